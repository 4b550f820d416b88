"""Checkpoints of a scheduler's SQLite file, in a thread of their own.

In WAL mode with ``synchronous = NORMAL`` a commit only appends to the write-ahead
log; the fsync comes when the log is copied back into the database file (a
checkpoint), which SQLite does by itself in whichever commit finds the log past 1,000
pages. For a scheduler that commit is a claim: every few hundred runs one claim waited
for two fsyncs, 10 ms on a quiet disk and over a second on a busy one, and every run
due meanwhile started that much late. While a scheduler runs the store, its connection
leaves checkpoints to this thread, which copies the log back a moment after commits
(a PASSIVE checkpoint: writers go on meanwhile) and sleeps while nothing is written.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from urllib.parse import quote

#: How long after a commit the checkpoint waits, so that a burst of commits is copied
#: back at once; the log meanwhile grows by what the burst writes.
SETTLE_SECONDS = 0.25


class Checkpointer:
    """Copies the write-ahead log of ``path`` into the database a moment after commits."""

    def __init__(
        self, path: str, logger: logging.Logger, still_ours: Callable[[], bool] = lambda: True,
    ) -> None:
        self._path = path
        self._logger = logger
        # Whether the file at ``path`` is still the one the store opened: the log must
        # never be copied into a file truncated (or renamed there) since, which would
        # fill it out to its old size, hide the change from the heartbeat's check, and
        # leave holes where the pages that were not in the log used to be.
        self._still_ours = still_ours
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False  # warned once; a failing checkpoint leaves the log to grow

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="schedctl-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A transaction was committed: a checkpoint is due soon."""
        self._written.set()

    def stop(self) -> None:
        """End the thread after one last checkpoint of what was written."""
        self._stopping.set()
        self._written.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            self._written.wait()
            self._stopping.wait(SETTLE_SECONDS)
            self._written.clear()
            self.checkpoint()
            if self._stopping.is_set():
                return

    def checkpoint(self) -> bool:
        """One PASSIVE checkpoint on a connection of its own (the file at ``path`` now,
        never created, and only while it is the store's); True when it ran."""
        try:
            conn = sqlite3.connect(f"file:{quote(self._path)}?mode=rw", uri=True,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return False  # removed or unreadable: the store says so where it matters
        try:
            if not self._still_ours():
                return False  # the heartbeat takes the file back, from the store's copy
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._failed = False
            return True
        except sqlite3.Error as exc:
            if not self._failed:
                self._failed = True
                self._logger.warning("Cannot checkpoint %s: %s", self._path, exc)
            return False
        finally:
            conn.close()
