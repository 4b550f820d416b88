"""One ``schedctl run`` per state file: an flock held for the life of the process.

The kernel drops the lock when the process dies however it dies, so a stale
lock is impossible; the pid written inside is only for messages.
"""

from __future__ import annotations

import fcntl
import os

from schedctl.errors import SchedctlError, StoreError
from schedctl.jobstores._sqlite_schema import ensure_file


class AlreadyRunningError(SchedctlError):
    def __init__(self, state: str, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(
            f"another 'schedctl run'{who} is already running on {state}; "
            "stop it first, or give this one its own --state"
        )


def lock_path(state_path: str) -> str:
    return state_path + ".lock"


class RunLock:
    """The exclusive lock of a running scheduler on ``<state>.lock``."""

    def __init__(self, state_path: str) -> None:
        self.state_path = state_path
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise AlreadyRunningError naming the holder."""
        ensure_file(self.state_path)  # the lock sits beside it: its directory may not exist yet
        try:
            fd = os.open(lock_path(self.state_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"{lock_path(self.state_path)}: cannot create the lock file ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunningError(self.state_path, holder_pid(self.state_path)) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk
            os.close(fd)
            raise StoreError(
                f"{lock_path(self.state_path)}: cannot write the lock file ({exc.strerror or exc})"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_pid(state_path: str) -> int | None:
    """The pid of the ``schedctl run`` holding the lock, or None when nobody holds it."""
    try:
        fd = os.open(lock_path(state_path), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
