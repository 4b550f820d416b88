"""Listen addresses: ``127.0.0.1:9746``, ``[::1]:9746``, ``:9746`` or a unix socket path.

Parsed here, below the jobfile's checks and the CLI's options, so ``metrics: listen:``
and ``run --metrics`` accept and refuse the same things with the same words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The port of `:PORT` examples and of the README (any free port will do).
DEFAULT_METRICS_PORT = 9746
EXAMPLES = "127.0.0.1:9746, :9746 (every interface) or a unix socket path such as /run/schedctl/metrics.sock"


@dataclass(frozen=True)
class ListenAddress:
    """Where to listen: a TCP host and port (host "" for every interface), or a unix socket."""

    host: str = ""
    port: int = DEFAULT_METRICS_PORT
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen_address(text: str, base: str | None = None) -> ListenAddress:
    """The address ``text`` names; ValueError saying what is wrong otherwise. A socket
    path is absolute, or taken relative to ``base`` (a jobfile's directory) when given."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected an address such as {EXAMPLES}")
    text = text.strip()
    if "/" in text:
        path = os.path.expanduser(text)
        if base is not None and not os.path.isabs(path):
            path = os.path.join(base, path)
        if len(os.fsencode(path)) > 107:  # sun_path holds 108 bytes with its terminating NUL
            raise ValueError(f"the socket path {path!r} is too long for a unix socket (107 bytes at most)")
        return ListenAddress(path=path)
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} is a port alone: write :{text} (every interface) or "
                         f"127.0.0.1:{text}"
                         if text.isdigit() else f"{text!r} is not an address: try {EXAMPLES}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: put an IPv6 address in brackets, as in [::1]:{port_text}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535 (0: any free port)")
    if any(c.isspace() for c in host):
        raise ValueError(f"{text!r}: a host name has no spaces")
    return ListenAddress(host=host, port=int(port_text))
