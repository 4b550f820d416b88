"""The running scheduler's side of the audit trail: one log line for each change asked for
from outside it (``schedctl pause``, ``resume``, ``run-now``), saying who asked.

The rows come from :mod:`schedctl.state.audit`. They are taken when the store announces a
change (the wake-up socket, NOTIFY), at every heartbeat in case an announcement was
lost, and at start-up, for what was asked while no scheduler ran.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from schedctl.errors import StoreError
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.service.logfmt import log_time
from schedctl.state.audit import AuditEntry, AuditLog

#: What each action did (``paused by ...``), and what was asked when the job was in that
#: state already (``pause asked by ...; it was paused already``).
_WORDS = {
    "pause": ("paused", "pause asked", "; it was paused already"),
    "resume": ("resumed", "resume asked", "; it was not paused"),
    "run-now": ("run requested", "run requested", ""),
}

#: A request older than this when logged gets its own time in the line.
_LATE = timedelta(minutes=1)

_logger = logging.getLogger("schedctl.audit")


class AuditLines:
    """Takes the audit rows of ``store`` and logs them; ``shared`` (several nodes): the line
    also names the host the command ran on."""

    def __init__(self, store: SQLJobStore, *, shared: bool) -> None:
        self._log = AuditLog(store)
        self._shared = shared

    def log_pending(self, now: datetime) -> None:
        try:
            entries = self._log.take()
        except StoreError as exc:  # said by the scheduler already; the rows wait for later
            _logger.debug("Could not read the audit rows: %s", exc)
            return
        for entry in entries:
            self._line(entry, now)

    def _line(self, entry: AuditEntry, now: datetime) -> None:
        done, asked, already = _WORDS.get(entry.action, (entry.action, entry.action, ""))
        who = entry.requester.describe(with_host=self._shared)
        when = f" at {log_time(entry.at)}" if now - entry.at > _LATE else ""
        what, note = (done, "") if entry.changed else (asked, already)
        _logger.info("%s: %s by %s%s%s", entry.job_id, what, who, when, note,
                     extra={"job_id": entry.job_id, "event": entry.action,
                            "requested_by": who, "uid": entry.requester.uid})
