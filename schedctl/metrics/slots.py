"""The places of the metrics listener: a thread for each client, a bounded number at once.

A place held by a client that is still sending its request, or has not yet taken its
answer, is taken back for a new client: the one waited on longest is cut off. A place that a client must
hold until it has sent its request would let a few silent connections, each opened again
as its deadline comes (slowloris), keep every health check out with 'busy'; a health
check sends its request as it connects, so it is never the longest sender for long.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from typing import Any

#: Requests served at once, each in a thread; a connection past them gets 503.
MAX_CLIENTS = 8
#: How long a new client waits for the place of the sender cut off for it.
TAKE_OVER_SECONDS = 1.0

_log = logging.getLogger("schedctl.metrics")

BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 30\r\n\r\nbusy: too many clients at once\n")


class BoundedMixIn(socketserver.ThreadingMixIn):
    """A thread for each request, at most ``slots`` at once. Past them, the client still
    sending its request for longest is cut off and its place given to the new one; when
    every place is answering, the new one is answered 503 and closed by the listening
    thread, without waiting on the client."""

    daemon_threads = True

    def setup_places(self, count: int) -> None:
        """Give this server its own ``count`` places (called before it serves)."""
        self.slots = threading.BoundedSemaphore(count)
        self._senders: dict[socket.socket, None] = {}  # in the order they came
        self._senders_lock = threading.Lock()

    def waiting_on(self, connection: socket.socket) -> None:
        """The server waits on ``connection`` again: to take its answer. A client that
        never reads a large answer would otherwise hold its place for the whole write
        timeout, as one sending a byte now and then did."""
        with self._senders_lock:
            self._senders[connection] = None

    def sent(self, connection: socket.socket) -> bool:
        """``connection`` has sent its request (or taken its answer); False if it was cut
        off meanwhile."""
        with self._senders_lock:
            return self._senders.pop(connection, False) is None

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False) and not self._take_over():
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(BUSY)
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        with self._senders_lock:  # a sender from now: its thread may not have started yet
            self._senders[request] = None
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.sent(request)
            self.slots.release()
            raise

    def _take_over(self) -> bool:
        """Cut off the longest sender and take its place once its thread gives it back."""
        with self._senders_lock:
            if not self._senders:
                return False
            oldest = next(iter(self._senders))
            del self._senders[oldest]
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)  # its read ends at once, and so its thread
        return self.slots.acquire(timeout=TAKE_OVER_SECONDS)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Through the service's log, as one record: socketserver would print the traceback
        on stderr, line by line, outside the log's format."""
        _log.exception("Could not answer a metrics client")

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sent(request)
            self.slots.release()
