"""Noticing that the state file is no longer the file ``schedctl run`` opened, and taking
it back.

Removed, replaced by a rename or truncated while the scheduler runs, the state file at the
path and the one the scheduler uses part ways: commands change a file the scheduler never
reads, and a restart finds an empty one. At every heartbeat (so within a minute) the
control thread compares the path's device and inode and the file's header with what the
store opened. On a change it says so as an error and takes the file back: a removed or
truncated file is written anew from what the scheduler still holds (history and pauses
kept), a file renamed there is used from then on with the jobfile's jobs synced into it.
The lock file, removed or replaced with it, is taken again, and names the file in use.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from schedctl.errors import SchedctlError
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.runlock import held_lock
from schedctl.state.stores import check_state_trusted
from schedctl.state.where import remember
from schedctl.state.sync import sync_jobs

if TYPE_CHECKING:
    from schedctl.clock import Clock
    from schedctl.jobfile.specs import Jobfile
    from schedctl.jobstores._sqlite_file import FileChange
    from schedctl.jobstores._sqlstore import SQLJobStore
    from schedctl.schedulers.blocking import BlockingScheduler
    from schedctl.state.history import RunHistory

_logger = logging.getLogger("schedctl.run")

_WHAT = {
    "removed": "was removed",
    "replaced": "was replaced by another file (renamed over it)",
    "truncated": "was truncated",
}


class StateFileWatch:
    """Mixed into Service: the check the control thread makes at every heartbeat."""

    store: SQLJobStore
    jobfile: Jobfile
    clock: Clock
    scheduler: BlockingScheduler
    history: RunHistory

    def _watch_state_file(self) -> None:
        store = self.store
        if not isinstance(store, SQLiteJobStore):
            return
        try:
            change = store.file_change()
            if change is not None:
                self._take_back(store, change)
            self._keep_lock(store)
            if store.listen_again():
                _logger.warning("The wake-up socket %s was removed; listening on it again",
                                store.wake_path)
        except (OSError, SchedctlError) as exc:  # said, and tried again at the next heartbeat
            _logger.error("Could not take back the state file %s: %s", store.path, exc)

    def _take_back(self, store: SQLiteJobStore, change: FileChange) -> None:
        _logger.error("The state file %s %s while schedctl was running on it; taking it back",
                      store.path, _WHAT.get(change, change))
        if change == "replaced" and (problem := _untrusted(store.path)) is not None:
            _logger.error("The file renamed over %s fails the trust rule (%s); writing the "
                          "scheduler's copy over it", store.path, problem)
            change = "removed"  # taken back as a removed file is: from the scheduler's copy
        with self.scheduler._jobstores_lock:
            kept = store.take_back(change)
            if kept:
                how = "written anew from the scheduler's copy (history and pauses kept)"
            else:
                report = sync_jobs(self.jobfile, store, self.clock.now())
                how = ("now used as it is, with the jobfile's jobs synced into it"
                       if change == "replaced" else
                       "made anew with the jobfile's jobs (its history and pauses are lost)")
                how += f" ({report.summary()})"
            self.history.announce(pid=os.getpid(), hostname=socket.gethostname(),
                                  at=self.clock.now(), jobfile=str(Path(self.jobfile.path).resolve()))
        self._keep_lock(store)
        lock = held_lock(store.path)
        if lock is not None:
            lock.note(store.opened)  # commands compare the file at the path with this
        # A pass that failed on the changed file left the jobs running from memory, where
        # a pause made in the file now would go unseen until the retry: back to it at once.
        self.scheduler.retry_stores_now()
        _logger.error("The state file %s is %s", store.path, how)

    def _keep_lock(self, store: SQLiteJobStore) -> None:
        lock = held_lock(store.path)
        if lock is not None and lock.lost():
            _logger.error("The lock file of %s was removed or replaced; locking it again so "
                          "that no second scheduler starts on it", store.path)
            lock.retake(store.opened)


def record_state(jobfile: Jobfile, store: SQLJobStore) -> None:
    """Leave the record by which ``-f JOBFILE`` finds the state this scheduler uses
    (:mod:`schedctl.state.where`); a record that cannot be written is a warning."""
    where = getattr(store, "url", None) or store.location  # a URL as given, not redacted
    try:
        remember(jobfile, where)
    except (OSError, SchedctlError) as exc:
        _logger.warning("Could not record where %s keeps its state (%s): commands given "
                        "-f %s will not find %s; give them --state", jobfile.path, exc,
                        jobfile.path, store.location)


def _untrusted(path: str) -> str | None:
    """Why a file renamed over the state path may not be used (another user's, or one that
    others may write), or None: a state file decides what runs."""
    try:
        check_state_trusted(path)
    except SchedctlError as exc:
        return str(exc)
    return None
