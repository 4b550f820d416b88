"""The HTTP listener of ``--metrics``: a few routes on a TCP address or a unix socket.

One thread blocks in ``select`` until a request comes: no polling, so an idle scheduler
stays idle (``serve_forever`` would wake twice a second). Each request then gets a
thread of its own, so a slow client never holds up a health check; but at most
``MAX_CLIENTS`` at once, and each must send its whole request within ``REQUEST_SECONDS``:
a flood of connections costs neither threads nor memory. A new client past them takes the
place of the one waited on longest, sending its request or taking its answer (see
:mod:`.slots`), so clients that send or read a byte now and then (slowloris) never keep a
health check out; only when every place is answering does it get 503.

The HTTP is a small HTTP/1.0 responder of our own (a GET or HEAD, its headers skipped,
one answer, the connection closed), all a scraper or a health check needs:
``http.server`` would bring ``http.client``, ``email``'s parser and ``ssl`` into the
service's memory for good.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import selectors
import socket
import socketserver
import stat
import threading
import sys
from collections.abc import Callable, Mapping
from email.utils import formatdate
from urllib.parse import urlsplit

from schedctl import __version__
from schedctl.clock import SystemClock
from schedctl.errors import SchedctlError
from schedctl.jobfile.addresses import ListenAddress
from schedctl.metrics.slots import MAX_CLIENTS, BoundedMixIn

#: A route's answer: HTTP status, content type, body.
Response = tuple[int, str, bytes]
Routes = Mapping[str, Callable[[], Response]]

#: A client that sends nothing for this long is dropped.
CLIENT_TIMEOUT_SECONDS = 30.0
#: A client must have sent its whole request (line and headers) within this.
REQUEST_SECONDS = 10.0
#: Who may connect to a unix socket: the owner and its group (a scraping proxy's).
SOCKET_MODE = 0o660
#: The longest request line or header line read, and the most header lines.
MAX_LINE = 8192
MAX_HEADERS = 100

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 431: "Request Header Fields Too "
            "Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable"}

_log = logging.getLogger("schedctl.metrics")
_TEXT = "text/plain; charset=utf-8"
_CLOCK = SystemClock()
#: Read at most this much of a request: its line and every header allowed.
_MAX_HEAD = MAX_LINE * 4


class MetricsListenError(SchedctlError):
    """The metrics address cannot be listened on (in use, not allowed, not a socket...).

    ``where`` says where the address was given (``--metrics``, or ``jobs.yaml:3:11:
    metrics.listen``), so the one line names what to change."""

    def __init__(self, address: ListenAddress, why: str, where: str = "") -> None:
        self.why = why
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}cannot serve metrics on {address}: {why}")


def _why(address: ListenAddress, exc: OSError) -> str:
    """What went wrong and what to do, for the errors a listener meets in practice."""
    code = exc.errno
    if address.path is not None:
        directory = os.path.dirname(address.path) or "."
        if code == errno.ENOENT:
            return f"the directory {directory} does not exist; create it or choose another path"
        if code == errno.EACCES:
            return f"no permission to create a socket in {directory}; choose another path"
    elif code == errno.EADDRINUSE:
        return "the port is in use by another process; stop it or choose another port"
    elif code == errno.EACCES and address.port < 1024:
        return "ports below 1024 need root; choose a port from 1024 up, such as 9746"
    elif code == errno.EADDRNOTAVAIL:
        return (f"{address.host} is not an address of this machine; use one of its own, "
                f"or :{address.port} for every interface")
    elif isinstance(exc, socket.gaierror):
        return f"the host name {address.host!r} is unknown ({exc.strerror}); use an IP address"
    return exc.strerror or str(exc)


class _BadRequest(Exception):
    """A request that gets an error status and no route."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class _Handler(socketserver.StreamRequestHandler):
    """One request, one answer, then the connection closes (HTTP/1.0)."""

    timeout = CLIENT_TIMEOUT_SECONDS  # for each read and write

    def handle(self) -> None:
        try:
            method, path = self._read_request()
        except _BadRequest as exc:
            self._send(exc.status, f"{exc}\n".encode(), with_body=True)
            self._log("-", exc.status)
            return
        except (TimeoutError, ConnectionError):  # went quiet or away: nobody to answer
            return
        if method not in ("GET", "HEAD"):
            status, body = 501, f"{method} is not supported; use GET\n".encode()
            self._send(status, body, with_body=True)
        else:
            status, kind, body = self._route(path)
            self._send(status, body, kind=kind, with_body=method == "GET")
        self._log(f"{method} {path}", status)

    def _read_request(self) -> tuple[str, str]:
        head = self._read_head()
        if not self.server.sent(self.connection):  # type: ignore[attr-defined]
            raise ConnectionResetError  # cut off for a newer client
        stream = io.BytesIO(head)
        line = stream.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionResetError  # connected, sent nothing, closed
        if _bad_request_line(line):
            raise _BadRequest(400, "bad request line; send 'GET /metrics HTTP/1.0'")
        words = line.decode("latin-1").split()
        for _ in range(MAX_HEADERS):  # what they say changes no answer: read past them
            header = stream.readline(MAX_LINE + 1)
            if len(header) > MAX_LINE:
                raise _BadRequest(431, "header line too long")
            if header in (b"\r\n", b"\n", b""):
                return words[0], _target_path(words[1])
        raise _BadRequest(431, "too many header lines")

    def _read_head(self) -> bytes:
        """What the client sent up to the blank line ending the headers (or until it
        closed), against one deadline for all of it: a timeout for each read alone would
        let a client that sends a byte now and then hold its thread for ever."""
        limit = float(getattr(self.server, "request_seconds", REQUEST_SECONDS))
        deadline = _CLOCK.monotonic() + limit
        head = bytearray()
        while b"\n\n" not in head.replace(b"\r\n", b"\n"):
            left = deadline - _CLOCK.monotonic()
            if left <= 0:
                raise TimeoutError
            if len(head) > _MAX_HEAD:
                raise _BadRequest(431, "request headers too large")
            self.connection.settimeout(min(left, CLIENT_TIMEOUT_SECONDS))
            chunk = self.connection.recv(MAX_LINE)
            if not chunk:
                break
            head += chunk
            first, newline, _ = head.partition(b"\n")
            if _bad_request_line(first + newline) if newline else len(head) > MAX_LINE:
                break  # answered 400 without waiting for the rest
        self.connection.settimeout(CLIENT_TIMEOUT_SECONDS)  # for the answer
        return bytes(head)

    def _route(self, path: str) -> Response:
        routes: Routes = getattr(self.server, "routes", {})
        route = routes.get(path)
        if route is None:
            return 404, _TEXT, f"not found; try {', '.join(routes)}\n".encode()
        try:
            return route()
        except Exception:  # noqa: BLE001 - one bad answer, not a dead listener
            _log.exception("Could not answer %s", path)
            return 500, _TEXT, b"internal error; see the log of schedctl run\n"

    def _send(self, status: int, body: bytes, *, kind: str = _TEXT, with_body: bool) -> None:
        head = (f"HTTP/1.0 {status} {_REASONS.get(status, '')}\r\n"
                f"Server: {_SERVER}\r\nDate: {formatdate(usegmt=True)}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.server.waiting_on(self.connection)  # type: ignore[attr-defined]
        try:
            self.wfile.write(head + body if with_body else head)
        except (TimeoutError, ConnectionError):
            pass  # the client left (or was cut off); nothing to tell it
        finally:
            self.server.sent(self.connection)  # type: ignore[attr-defined]

    def _log(self, request: str, status: int) -> None:
        address = self.client_address
        client = str(address[0]) if isinstance(address, tuple) and address else "unix socket"
        _log.debug("%s: %r %s", client, request, status)


_SERVER = f"schedctl/{__version__} Python/{sys.version.split()[0]}"


def _target_path(target: str) -> str:
    """The path a request asks for; an absolute URL that cannot be parsed (an unclosed
    ``[`` of an IPv6 host) is a bad request, not a traceback in the service's log."""
    try:
        return urlsplit(target).path
    except ValueError:
        raise _BadRequest(400, "bad request target; send 'GET /metrics HTTP/1.0'") from None


def _bad_request_line(line: bytes | bytearray) -> bool:
    words = line.decode("latin-1").split()
    return len(line) > MAX_LINE or len(words) != 3 or not words[2].startswith("HTTP/")


class _TCPServer(BoundedMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    timeout = 0  # handle_request() after select() said a client is waiting


class _DualStackServer(_TCPServer):
    """Every interface, IPv6 and IPv4 alike."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _IPv6Server(_TCPServer):
    address_family = socket.AF_INET6


class _UnixServer(BoundedMixIn, socketserver.UnixStreamServer):
    timeout = 0


class MetricsServer:
    """Serves ``routes`` on ``address`` from :meth:`start` until :meth:`close`."""

    def __init__(self, address: ListenAddress, routes: Routes | None = None, *,
                 where: str = "", max_clients: int = MAX_CLIENTS,
                 request_seconds: float = REQUEST_SECONDS) -> None:
        self.address = address
        self.max_clients, self.request_seconds = max_clients, request_seconds
        self.routes: Routes = routes or {}
        self.where_given = where
        self._server: socketserver.TCPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._socket_id: tuple[int, int] | None = None

    @property
    def where(self) -> str:
        """The address listened on, with the port the system chose for port 0 and, for
        every interface, the wildcard address (``[::]:9746``): a URL can be made of it."""
        port = self.port
        if port is None or self._server is None:
            return str(self.address)
        host = self.address.host or str(self._server.socket.getsockname()[0])
        return str(ListenAddress(host=host, port=port))

    @property
    def port(self) -> int | None:
        if self.address.is_unix or self._server is None:
            return None
        return int(self._server.socket.getsockname()[1])

    def bind(self) -> None:
        """Listen now, or raise MetricsListenError: before anything else is changed, so a
        taken port leaves the state as it was. Requests wait until :meth:`start`."""
        if self._server is None:
            self._server = self._bind()

    def start(self) -> None:
        """Listen if not yet bound, and start serving ``routes``."""
        self.bind()
        server = self._server
        assert server is not None
        server.routes = self.routes  # type: ignore[attr-defined]
        server.setup_places(self.max_clients)  # type: ignore[attr-defined]
        server.request_seconds = self.request_seconds  # type: ignore[attr-defined]
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="schedctl-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening; a unix socket file is removed if it is still this server's."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._thread is not None:  # started, not only bound
            os.write(self._wake_w, b"x")
            self._thread.join(5)
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
        server.server_close()
        if self.address.path is not None and self._socket_id == _identity(self.address.path):
            with contextlib.suppress(OSError):
                os.unlink(self.address.path)

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        with selectors.DefaultSelector() as selector:
            selector.register(server.fileno(), selectors.EVENT_READ, "client")
            selector.register(self._wake_r, selectors.EVENT_READ, "stop")
            while True:
                for key, _ in selector.select():
                    if key.data == "stop":
                        return
                    server.handle_request()

    def _bind(self) -> socketserver.TCPServer:
        try:
            if self.address.path is not None:
                return self._bind_unix(self.address.path)
            return _bind_tcp(self.address)
        except MetricsListenError as exc:
            raise MetricsListenError(self.address, exc.why, self.where_given) from None
        except OSError as exc:
            raise MetricsListenError(self.address, _why(self.address, exc),
                                     self.where_given) from None

    def _bind_unix(self, path: str) -> socketserver.TCPServer:
        _clear_stale_socket(self.address, path)
        server = _UnixServer(path, _Handler, bind_and_activate=False)
        try:
            # On Linux the socket file takes its mode from the socket, less the umask: never
            # wider than SOCKET_MODE from the start, then exactly it (a group may connect).
            os.fchmod(server.socket.fileno(), SOCKET_MODE)
            server.server_bind()
            _chmod_own_socket(self.address, path)
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
        self._socket_id = _identity(path)
        return server


def _chmod_own_socket(address: ListenAddress, path: str) -> None:
    """Give the socket just bound at ``path`` its mode, through a descriptor of that very
    entry: a chmod by path follows a link, and in a directory another user may write,
    that user can put one there between the bind and the chmod (to /etc/shadow, say)."""
    replaced = MetricsListenError(address, (
        "the socket was replaced by another file as it was made: another user may write in "
        f"{os.path.dirname(path) or '.'}; choose a directory only schedctl's user may write"))
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise replaced from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
            raise replaced
        os.chmod(f"/proc/self/fd/{fd}", SOCKET_MODE)
    finally:
        os.close(fd)


def _bind_tcp(address: ListenAddress) -> socketserver.TCPServer:
    if not address.host:
        try:
            return _DualStackServer(("::", address.port), _Handler)
        except OSError as exc:  # no IPv6 here: IPv4 alone
            if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT):
                raise
            return _TCPServer(("0.0.0.0", address.port), _Handler)
    infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    family, _, _, _, sockaddr = infos[0]
    server_class = _IPv6Server if family == socket.AF_INET6 else _TCPServer
    return server_class((str(sockaddr[0]), int(sockaddr[1])), _Handler)


def _clear_stale_socket(address: ListenAddress, path: str) -> None:
    """Remove a socket left by a process that died; refuse anything else in the way."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise MetricsListenError(address, "the path exists and is not a socket; "
                                 "remove it or choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: left over
        return
    finally:
        probe.close()
    raise MetricsListenError(address, "another process listens on it; stop it or choose another path")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
