"""The file under an SQLite store: is it still the one the store opened, and taking it back.

A state file can be removed, replaced by a rename (a backup put back) or truncated while
a scheduler has it open. The scheduler's connection then goes on with a file nobody else
sees: a pause written to the new file is never obeyed, and a restart loses the history.
These functions tell what happened, from the file's identity (device and inode) and its
size, and put a file the store can share with the other processes back at the path.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import Literal

#: What can happen to the file at a store's path while the store has it open.
FileChange = Literal["removed", "replaced", "truncated"]

#: The smallest page size; every SQLite database file is a whole number of pages.
MIN_PAGE = 512

#: What SQLite keeps beside a database in WAL mode: stale ones must never meet another file.
WAL_FILES = ("-wal", "-shm")

Identity = tuple[int, int]


def identity_of(path: str) -> Identity | None:
    """(device, inode) of the file at ``path``, or None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def file_change(path: str, opened: Identity) -> FileChange | None:
    """What became of the file the store opened as ``opened``; None if it is still there."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "removed"
    except OSError:
        return None  # cannot tell (a directory made unreadable): the store's own errors say it
    if (info.st_dev, info.st_ino) != opened:
        return "replaced"
    # Told from the size alone: opening the file here to read its header would drop the
    # connection's locks (POSIX locks belong to the process, and go with any close).
    # A database is a whole number of pages, and pages are multiples of 512 bytes.
    return "truncated" if info.st_size == 0 or info.st_size % MIN_PAGE else None


def copy_out(conn: sqlite3.Connection, path: str) -> bool:
    """Write what ``conn`` can still read to a new file at ``path`` (the file it opened was
    removed or truncated); False, and nothing written, when the copy is not whole."""
    staging = path + ".new"
    remove_quietly(staging, *(staging + suffix for suffix in WAL_FILES))
    # Private from its first byte, as the state file itself; never through a planted link.
    os.close(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600))
    copy = sqlite3.connect(staging, isolation_level=None)
    try:
        conn.backup(copy)
        whole = copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.Error:
        whole = False
    finally:
        copy.close()
    if not whole:
        remove_quietly(staging, *(staging + suffix for suffix in WAL_FILES))
        return False
    remove_quietly(*(path + suffix for suffix in WAL_FILES))
    os.replace(staging, path)
    return True


def wal_identities(path: str) -> dict[str, Identity]:
    """The WAL files beside ``path`` as they are now (after the store opened it)."""
    found = {suffix: identity_of(path + suffix) for suffix in WAL_FILES}
    return {suffix: ident for suffix, ident in found.items() if ident is not None}


def clear(path: str, change: FileChange, ours: dict[str, Identity]) -> None:
    """Once the old connection is closed: drop its WAL files, which belong to no file at
    ``path`` now (those of a file put there by a rename are left alone), and a truncated
    file, so that the next open starts a fresh one."""
    for suffix in WAL_FILES:
        if change != "replaced" or identity_of(path + suffix) == ours.get(suffix):
            remove_quietly(path + suffix)
    if change == "truncated":
        remove_quietly(path)


def remove_quietly(*paths: str) -> None:
    for each in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(each)
