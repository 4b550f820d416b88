"""What the command runner needs from a run's lease, and the pipe that carries it to the shim.

A leased run is started under :mod:`schedctl.commands.shim`, which kills the command when its
deadline passes. The lease keeper knows when the lease was last renewed; the runner
knows the shim's pipe. :class:`LeaseLink` joins the two without either importing the
other, and :class:`ShimChannel` is the pipe.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Protocol


class LeaseLink(Protocol):
    """One run's lease, as the command runner sees it.

    Deadlines are absolute ``time.monotonic()`` seconds, the time by which the command
    must be dead. A keeper computes each one from the moment it *sent* the renewal,
    minus a margin for the kill and for clock drift against the database, so that the
    shim always acts before the database can declare the lease expired.
    """

    def first_deadline(self) -> float:
        """The deadline the shim starts with."""
        ...

    def bind(self, send: Callable[[float], None]) -> None:
        """Called once the command runs: call ``send(deadline)`` after each renewal."""
        ...

    def unbind(self) -> None:
        """Called when the run is over, also after a failed ``bind``: stop calling ``send``."""
        ...


class ShimChannel:
    """The write end of a shim's stdin: deadlines go in, and closing it says "the node is gone".

    ``send`` never blocks and never raises for a shim that is gone or stuck: the keeper
    thread must not hang on one run, and a shim that misses a line still has its last
    deadline. Any thread may call ``send`` and ``close``; the lock makes sure a write
    never lands on an fd number that ``close`` has just released for reuse.
    """

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd
        self._lock = threading.Lock()

    @classmethod
    def open(cls) -> tuple[int, ShimChannel]:
        """A new pipe: the read end (for the shim's stdin) and the channel on the write end.

        Both ends are non-inheritable, so only the process given the read end as its
        stdin holds it, and no other child of the scheduler keeps the write end open
        (which would hide the end-of-file that tells the shim the node died).
        """
        read_fd, write_fd = os.pipe()
        return read_fd, cls(write_fd)

    def send(self, deadline: float) -> None:
        """Hand the shim a new deadline; a line is far below PIPE_BUF, so it is written whole."""
        with self._lock:
            if self._fd is None:
                return
            try:
                os.write(self._fd, b"%.6f\n" % deadline)
            except (BrokenPipeError, BlockingIOError):
                pass  # the shim is gone, or not reading: its current deadline stands

    def close(self) -> None:
        """Close the write end (idempotent); a shim still running then kills its command."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
