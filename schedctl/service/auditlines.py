"""The running scheduler's side of the audit trail: one log line for each change asked for
from outside it (``schedctl pause``, ``resume``, ``run-now``), saying who asked.

The rows come from :mod:`schedctl.state.audit`. They are taken at start-up, for what was
asked while no scheduler ran, then by a thread of their own when the store announces a
change (the wake-up socket, NOTIFY) and every 10 seconds in case an announcement was
lost. Not by the control thread: a store that hangs must never hold up SIGTERM or the
watchdog.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from schedctl.clock import Clock
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

#: How often the rows are looked for without an announcement.
POLL = timedelta(seconds=10)

_logger = logging.getLogger("schedctl.audit")


class AuditLines:
    """Takes the audit rows of ``store`` and logs them; ``shared`` (several nodes): the line
    also names the host the command ran on."""

    def __init__(self, store: SQLJobStore, clock: Clock, *, shared: bool) -> None:
        self._log = AuditLog(store)
        self._clock = clock
        self._shared = shared
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Log what is waiting, then go on in a thread until :meth:`close`."""
        self.log_pending(self._clock.now())
        self._thread = threading.Thread(target=self._loop, name="schedctl-audit", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """The store announced a change: look at once (any thread, never blocks)."""
        self._wake.set()

    def close(self, timeout: float = 1.0) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._closed:
            # A real-time wait, not the scheduler's clock: this thread only polls, and a
            # stepped or simulated clock belongs to the loop that drives it.
            self._wake.wait(POLL.total_seconds())
            self._wake.clear()
            if not self._closed:
                self.log_pending(self._clock.now())

    def log_pending(self, now: datetime) -> None:
        try:
            entries = self._log.take()
        except StoreError as exc:  # said by the scheduler already; the rows wait for later
            _logger.debug("Could not read the audit rows: %s", exc)
            return
        except Exception:  # never the end of the thread: the next look may work
            _logger.exception("Could not read the audit rows")
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
