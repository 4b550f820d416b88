"""When to alert: after a run that failed, after the first success that follows a failure,
and after a run that printed something (``on_output``, as cron mails any output).

The previous outcome of each job comes from the history at start-up, so a job
that was failing before a restart still sends its recovery alert.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schedctl.alerts.context import TAIL_CHARS, AlertContext
from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.alerts.spec import alert_from_dict
from schedctl.errors import StoreError
from schedctl.job import Job
from schedctl.jobstores.base import BaseJobStore
from schedctl.state.history import RunHistory, RunOutcome

#: Outcomes that say nothing about whether the job works: no alert, and no change to
#: whether the job counts as failing (a replaced run was stopped on purpose).
_NEUTRAL = ("missed", "skipped", "replaced")


class AlertRules:
    """Called after each finished run; hands alerts to the dispatcher."""

    def __init__(self, store: BaseJobStore, history: RunHistory, dispatcher: AlertDispatcher) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._meta: dict[str, dict[str, Any]] = {}
        self._pinned = False
        self.refresh()
        self._failing = {
            job_id: record.failed
            for job_id, record in history.last_runs().items()
            if record.state not in _NEUTRAL
        }

    def refresh(self, jobs: Mapping[str, Job] | None = None) -> None:
        """Remember every job's alert settings. Called at start-up and after each reload,
        because a one-shot job is gone from the store by the time its run ends. Given the
        jobfile's ``jobs`` (a local state file), alerts come from them alone: an alert
        command is a command, and the state file never decides what runs."""
        self._pinned = jobs is not None
        source = jobs.values() if jobs is not None else self._store.get_all_jobs()
        self._meta = {job.id: job.meta for job in source}

    def after_run(self, job_id: str, scheduled_for: datetime, outcome: RunOutcome) -> None:
        if outcome.state in _NEUTRAL:
            return
        if outcome.output:  # any output at all, as cron mails it, whatever the outcome
            self._send("output", "on_output", job_id, scheduled_for, outcome)
        failed = outcome.state != "success"
        was_failing = self._failing.get(job_id, False)
        self._failing[job_id] = failed
        if failed:
            self._send("failure", "on_failure", job_id, scheduled_for, outcome)
        elif was_failing:
            self._send("recovery", "on_recovery", job_id, scheduled_for, outcome)

    def _send(self, kind: str, key: str, job_id: str, scheduled_for: datetime, outcome: RunOutcome) -> None:
        job = None
        if not self._pinned:
            try:
                job = self._store.lookup_job(job_id)
            except StoreError:  # a failing state file must not swallow the alert: use what we know
                pass
        meta = job.meta if job is not None else self._meta.get(job_id, {})
        if not meta.get(key):
            return
        specs = [alert_from_dict(item) for item in meta[key]]
        # cron mails all the output a run kept; the other alerts carry the end of it.
        kept = None if kind == "output" else TAIL_CHARS
        context = AlertContext(
            kind=kind,  # type: ignore[arg-type]
            job_id=job_id, outcome=outcome.state, scheduled_for=scheduled_for,
            finished_at=outcome.finished_at, exit_code=outcome.exit_code, signal=outcome.signal,
            duration=outcome.duration, error=outcome.error,
            output_tail=(outcome.output or "")[-kept:] if kept else outcome.output or "",
            description=meta.get("description"), command=_command_line(meta.get("action")),
            user=meta.get("user"),
        )
        self._dispatcher.dispatch(specs, context)


def _command_line(action: Any) -> str | None:
    """The command as one line, for cron's mail subject; None for a ``call:`` job."""
    if isinstance(action, list):
        return shlex.join(action)
    return action if isinstance(action, str) else None
