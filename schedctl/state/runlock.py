"""One ``schedctl run`` per state file: an flock held for the life of the process.

The kernel drops the lock when the process dies however it dies, so a stale
lock is impossible. Written inside are the pid (for messages) and the device and inode
of the state file the scheduler has open, so a command can tell when the file at the
path is no longer the scheduler's (removed, or replaced by a rename). The file is
opened without following symbolic links: a link planted there would make the
scheduler truncate and write whatever file it points to.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass

from schedctl.errors import SchedctlError, StoreError
from schedctl.jobstores._sqlite_schema import ensure_file
from schedctl.trust import open_own_file


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
            fd = open_own_file(lock_path(self.state_path), os.O_RDWR, 0o600)
        except OSError as exc:
            raise StoreError(
                f"{lock_path(self.state_path)}: cannot create the lock file ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunningError(self.state_path, holder_pid(self.state_path)) from None
        except BaseException:  # not locked (no lock records left, ENOLCK): not kept open
            os.close(fd)
            raise
        self._fd = fd
        try:
            self.note(_identity(self.state_path))
        except OSError as exc:  # a full disk
            self.release()
            raise StoreError(
                f"{lock_path(self.state_path)}: cannot write the lock file ({exc.strerror or exc})"
            ) from None
        _HELD[os.path.abspath(self.state_path)] = self
        return self

    def note(self, identity: tuple[int, int] | None) -> None:
        """Write down which file the scheduler uses at the state path; OSError if it cannot."""
        assert self._fd is not None
        words = [str(os.getpid()), *(map(str, identity) if identity else ())]
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (" ".join(words) + "\n").encode(), 0)

    def lost(self) -> bool:
        """Whether the lock file at the path is no longer the one this process locked
        (removed or replaced), so that another scheduler could start on the state."""
        assert self._fd is not None
        held = os.fstat(self._fd)
        try:
            there = os.stat(lock_path(self.state_path))
        except FileNotFoundError:
            return True
        return (there.st_dev, there.st_ino) != (held.st_dev, held.st_ino)

    def retake(self, identity: tuple[int, int] | None) -> None:
        """Lock the file now at the path (made anew if it is gone) in place of the lost one,
        noting ``identity``; AlreadyRunningError if another scheduler took it meanwhile."""
        old, self._fd = self._fd, None
        try:
            self.acquire()
        except BaseException:
            # Still the holder of the old lock: a failed acquire released its new one and
            # with it the entry in _HELD, and without it no heartbeat would try again.
            self._fd = old
            _HELD[os.path.abspath(self.state_path)] = self
            raise
        if old is not None:
            os.close(old)
        self.note(identity)

    def release(self) -> None:
        if self._fd is not None:
            _HELD.pop(os.path.abspath(self.state_path), None)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class StateFileSwappedError(SchedctlError):
    """The file at a state path is not the one its running scheduler uses: a change made
    there would be claimed and never obeyed."""

    def __init__(self, state: str, pid: int, how: str) -> None:
        who = f"the running scheduler (pid {pid})" if pid > 0 else "the running scheduler"
        super().__init__(
            f"{state} {how} while {who} was using it, so it is not the file the scheduler "
            "reads; nothing was changed. The scheduler takes the file back within a minute "
            "(its log says so): try again then"
        )


def check_in_use(state_path: str) -> None:
    """Raise StateFileSwappedError when a scheduler runs on ``state_path`` but the file
    there is not the one it uses: removed, replaced by a rename, or empty (truncated)."""
    holder = lock_holder(state_path)
    if holder is None:
        return
    try:
        info = os.stat(state_path)
    except FileNotFoundError:
        raise StateFileSwappedError(state_path, holder.pid, "was removed") from None
    if info.st_size == 0:
        raise StateFileSwappedError(state_path, holder.pid, "was emptied (truncated)")
    if holder.identity is not None and (info.st_dev, info.st_ino) != holder.identity:
        raise StateFileSwappedError(state_path, holder.pid, "was replaced by another file")


#: The run locks this process holds, by state path.
_HELD: dict[str, RunLock] = {}


def held_lock(state_path: str) -> RunLock | None:
    """The run lock this process holds on ``state_path``, if any."""
    return _HELD.get(os.path.abspath(state_path))


@dataclass(frozen=True)
class LockHolder:
    """The ``schedctl run`` holding a state file's lock: its pid (-1: unknown) and the
    (device, inode) of the state file it uses (None: not written down)."""

    pid: int
    identity: tuple[int, int] | None


def holder_pid(state_path: str) -> int | None:
    """The pid of the ``schedctl run`` holding the lock, or None when nobody holds it."""
    holder = lock_holder(state_path)
    return None if holder is None else holder.pid


def lock_holder(state_path: str) -> LockHolder | None:
    """Who holds the lock of ``state_path``, or None when nobody does."""
    try:
        fd = os.open(lock_path(state_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link: no scheduler of ours, which would have refused it
            return None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(os.read(fd, 128).decode(errors="replace"))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _parse(text: str) -> LockHolder:
    words = text.split()
    numbers = [int(word) for word in words if word.isdigit()]
    if not words or len(numbers) != len(words):
        return LockHolder(-1, None)
    identity = (numbers[1], numbers[2]) if len(numbers) >= 3 else None
    return LockHolder(numbers[0], identity)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
