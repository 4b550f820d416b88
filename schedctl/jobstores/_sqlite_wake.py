"""Prompt cross-process wake-ups for the SQLite store: a datagram socket at ``<db>.wake``.

The scheduler's store binds the socket and relays every burst of datagrams to
``scheduler.wakeup()``; any store instance (the CLI, another thread) sends one
byte after each committed change. Polling stays the safety net, so every
failure here degrades to "the change is noticed within poll_interval".
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a store only read (schedctl list) never signals
    import socket

#: Errors that only mean "nobody is listening" or "a wake-up is already pending".
_QUIET_SEND_ERRORS = frozenset({errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.EWOULDBLOCK})


class WakeSender:
    """Sends the one-byte poke; never blocks and never raises."""

    def __init__(self, path: str, logger: logging.Logger) -> None:
        self._path = path
        self._logger = logger
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    def poke(self) -> None:
        try:
            self._socket().sendto(b"\x01", self._path)
        except OSError as exc:
            if exc.errno not in _QUIET_SEND_ERRORS and not self._warned:
                self._warned = True  # once: the poll interval still picks the change up
                self._logger.warning("Cannot signal %s (%s); relying on polling", self._path, exc)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _socket(self) -> socket.socket:
        import socket

        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            return self._sock


class WakeListener:
    """Owns ``<db>.wake`` while a scheduler runs the store, unless another live process does."""

    def __init__(self, path: str, on_wake: Callable[[], None], logger: logging.Logger) -> None:
        self._path = path
        self._on_wake = on_wake
        self._logger = logger
        self._sock: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def open(self, exclusive: AbstractContextManager[object]) -> bool:
        """Bind the socket and start relaying; False (and polling only) if we cannot.

        ``exclusive`` is held around probe, unlink and bind so two starting
        processes cannot both decide a socket is stale and unlink each other's.
        """
        with exclusive:
            sock = self._bind()
        if sock is None:
            return False
        self._sock = sock
        self._thread = threading.Thread(
            target=self._relay, args=(sock,), name=f"schedctl-wake {self._path}", daemon=True
        )
        self._thread.start()
        return True

    def close(self) -> None:
        """Stop the thread, close the socket, and unlink the path if it is still ours."""
        sock, thread, self._sock, self._thread = self._sock, self._thread, None, None
        if sock is None:
            return
        if self._is_ours():
            try:
                os.unlink(self._path)
            except OSError:
                pass
        import socket

        try:
            sock.shutdown(socket.SHUT_RDWR)  # makes the blocked recv() return b""
        except OSError:
            pass
        if thread is not None and thread is not threading.current_thread():
            # Bounded: the thread may be inside scheduler.wakeup(), which must not deadlock us.
            thread.join(timeout=2)
        sock.close()

    def _bind(self) -> socket.socket | None:
        import socket

        if not self._clear_stale():
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            # On Linux the socket file takes its mode from the socket inode: private from the start.
            os.fchmod(sock.fileno(), 0o600)
            sock.bind(self._path)
            os.chmod(self._path, 0o600)
            info = os.stat(self._path)
        except OSError as exc:
            sock.close()
            self._logger.warning("Cannot listen on %s (%s); relying on polling", self._path, exc)
            return None
        self._inode = (info.st_dev, info.st_ino)
        return sock

    def _clear_stale(self) -> bool:
        """True if the path is free now; False if someone else owns it or it is no socket."""
        try:
            mode = os.lstat(self._path).st_mode
        except FileNotFoundError:
            return True
        except OSError as exc:
            self._logger.warning("Cannot inspect %s (%s); relying on polling", self._path, exc)
            return False
        if not stat.S_ISSOCK(mode):
            self._logger.warning("%s exists and is not a socket; relying on polling", self._path)
            return False
        if _is_live(self._path):
            self._logger.info(
                "Another process listens on %s; this one relies on polling", self._path
            )
            return False
        try:
            os.unlink(self._path)  # left behind by a process that died
        except FileNotFoundError:
            pass
        except OSError as exc:  # a directory made read-only since: polling still works
            self._logger.warning(
                "Cannot remove the stale %s (%s); relying on polling", self._path,
                exc.strerror or exc,
            )
            return False
        return True

    def owns_path(self) -> bool:
        """Whether the socket at the path is still the one this listener bound."""
        return self._is_ours()

    def _is_ours(self) -> bool:
        try:
            info = os.lstat(self._path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._inode

    def _relay(self, sock: socket.socket) -> None:
        while True:
            try:
                if not sock.recv(64):
                    return  # shut down
                _drain(sock)
            except OSError:
                return
            try:
                self._on_wake()
            except Exception:  # a broken callback must not end fast wake-ups for good
                self._logger.exception("Error in the wake-up callback")


def _drain(sock: socket.socket) -> None:
    """Swallow pokes already queued: one wake-up answers them all."""
    import socket

    while True:
        try:
            if not sock.recv(64, socket.MSG_DONTWAIT):
                return
        except BlockingIOError:
            return


def _is_live(path: str) -> bool:
    """Whether a process is bound at ``path``: connecting to a dead socket is refused."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except OSError as exc:
        return exc.errno != errno.ECONNREFUSED
    finally:
        probe.close()
    return True
