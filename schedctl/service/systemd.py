"""Talking to systemd: sd_notify(3) readiness, status, stopping and watchdog pings.

Without ``NOTIFY_SOCKET`` (not started by systemd with Type=notify) every call is
a no-op, so callers never need to ask.
"""

from __future__ import annotations

import logging
import os
import socket

_logger = logging.getLogger("schedctl.systemd")


class Notifier:
    """Sends sd_notify datagrams to ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send ``READY=1``-style fields in one datagram; False if it could not be sent."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(fields).encode(), target)
        except OSError as exc:
            _logger.warning("Could not notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=Stopping")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1", "STATUS=Reloading the jobfile")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (as sd_watchdog_enabled(3) advises), if it is for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None
