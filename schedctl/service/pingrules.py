"""Monitoring pings of ``schedctl run``: a start ping when each attempt of a run starts, an
end ping when it ends, both with the attempt's ``rid``, sent by the alert thread.

Missed and skipped runs send nothing: they never started, so the monitor's own
schedule notices the gap. An attempt this node gives up on a shared store (handed over
at its stop, or its lease lost) ends here with an ``orphaned`` end ping, with its rid,
which only this node knows: another node records the attempt as orphaned and, with
``on_orphan: rerun``, starts the next attempt with pings of its own, as a retry does.
An attempt whose node dies sends no end ping; the monitor's schedule notices that.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from datetime import datetime

from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.alerts.ping import PingDelivery, PingEvent, PingSpec, ping_from_dict
from schedctl.commands.spec import CommandResult
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.state.history import NEVER_STARTED, RunOutcome

RunKey = tuple[str, datetime]


class PingRules:
    """Turns run starts and ends into pings; safe from the loop and the worker threads."""

    def __init__(self, store: BaseJobStore, dispatcher: AlertDispatcher) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._lock = threading.Lock()
        self._rids: dict[RunKey, str] = {}
        self._pings: dict[str, PingSpec] = {}
        self.refresh()

    def refresh(self, jobs: Iterable[Job] | None = None) -> None:
        """Read every job's ``ping``; called at start-up and after each reload, because a
        one-shot job is gone from the store by the time its run ends. Given the jobfile's
        ``jobs`` (a local state file), pings come from them, not from the state file."""
        source = jobs if jobs is not None else self._store.get_all_jobs()
        pings = {job.id: ping_from_dict(job.meta["ping"]) for job in source if job.meta.get("ping")}
        with self._lock:
            self._pings = pings

    def started(self, job_id: str, scheduled_for: datetime, attempt: int = 1) -> None:
        """An attempt starts: a fresh rid, and its start ping."""
        with self._lock:
            spec = self._pings.get(job_id)
            if spec is None:
                return
            rid = self._rids[job_id, scheduled_for] = str(uuid.uuid4())
        self._send(spec, PingEvent(job_id=job_id, rid=rid, phase="start"))

    def retry_started(self, job_id: str, scheduled_for: datetime | None, attempt: int) -> None:
        """A jobrunner retry listener."""
        if scheduled_for is not None:
            self.started(job_id, scheduled_for, attempt)

    def ended(self, job_id: str, scheduled_for: datetime, outcome: RunOutcome) -> None:
        """An attempt ended: its end ping, with the start's rid."""
        if outcome.state in NEVER_STARTED:
            return
        with self._lock:
            spec = self._pings.get(job_id)
            rid = self._rids.pop((job_id, scheduled_for), None)
        if spec is None:
            return
        self._send(spec, PingEvent(
            job_id=job_id, rid=rid or str(uuid.uuid4()), phase="end", outcome=outcome.state,
            exit_code=outcome.exit_code, duration=outcome.duration,
            output_tail=outcome.output or "",
        ))

    def attempt_failed(
        self, job_id: str, scheduled_for: datetime | None, result: CommandResult, delay: float
    ) -> None:
        """A jobrunner attempt listener: an attempt that will be retried ended."""
        if scheduled_for is None:
            return
        self.ended(job_id, scheduled_for, RunOutcome(
            result.outcome, result.finished_at, duration=result.duration,
            exit_code=result.exit_code, signal=result.signal, error=result.error,
            output=result.output_tail or None, attempt=result.attempt,
        ))

    def _send(self, spec: PingSpec, event: PingEvent) -> None:
        self._dispatcher.submit(PingDelivery(spec, event))
