"""Turning scheduler events into run history rows and one log line each.

A listener of the running scheduler: every submission, outcome, missed run and
skipped run becomes a row in the state file (for ``schedctl history``) and a
line on stderr (time, job id, event, duration, exit status).
"""

from __future__ import annotations

import dataclasses
import logging
import traceback as tb
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from schedctl.clock import Clock
from schedctl.commands.outcome import summarize
from schedctl.commands.spec import CommandFailedError, CommandResult, format_seconds
from schedctl.errors import StoreError
from schedctl.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.service.logfmt import log_time
from schedctl.service.pending import PendingWrites
from schedctl.state.history import NEVER_STARTED, REPLACED, RunHistory, RunOutcome

#: The events a RunLog listens to.
RUN_EVENTS = (
    EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    | EVENT_JOB_MAX_INSTANCES
)



class RunLog:
    """The listener: record each run in the history and log it."""

    def __init__(
        self, history: RunHistory, clock: Clock, owner: str,
        replacing: Callable[[str], bool] | None = None,
        after_run: Callable[[str, datetime, RunOutcome], None] | None = None,
        reason: str = "schedule",
        given_up: Callable[[str, datetime, RunOutcome], None] | None = None,
    ) -> None:
        self._reason = reason  # the history's reason column: schedule, or run-now outside a scheduler
        self._replacing = replacing or (lambda job_id: False)
        self._after_run = after_run
        #: Told of an attempt this node leaves to the others (handed over at its stop, or its
        #: lease lost), as ``orphaned``, the state another node's reaper records for it.
        self._given_up = given_up
        self._history = history
        self._clock = clock
        self._owner = owner
        self._logger = logging.getLogger("schedctl.events")
        self._history_down = False  # the last history write failed
        self._pending = PendingWrites()  # writes the store refused, made once it works again

    def __call__(self, event: SchedulerEvent) -> None:
        if isinstance(event, JobSubmissionEvent) and event.code == EVENT_JOB_SUBMITTED:
            for run_time in event.scheduled_run_times:
                self._started(event.job_id or "", run_time)
        elif isinstance(event, JobSubmissionEvent) and event.code == EVENT_JOB_MAX_INSTANCES:
            for run_time in event.scheduled_run_times:
                self._skipped(event.job_id or "", run_time)
        elif isinstance(event, JobExecutionEvent) and event.scheduled_run_time is not None:
            if event.code == EVENT_JOB_MISSED:
                self._missed(event)
            else:
                self._finished(event)

    def _started(self, job_id: str, run_time: datetime) -> None:
        at = self._clock.now()
        # The run goes ahead whether or not this is written: a full disk must not stop the jobs.
        self._write(job_id, lambda: self._history.started(
            job_id, run_time, at=at, owner=self._owner, reason=self._reason))
        self._log(logging.INFO, job_id, "started", f"started (scheduled {self._show(run_time)})",
                  scheduled_for=run_time.isoformat())

    def _skipped(self, job_id: str, run_time: datetime) -> None:
        if self._replacing(job_id):
            self._log(logging.WARNING, job_id, "replacing",
                      "the previous run is still going; stopping it to start this one")
            return
        error = "the previous run was still going (max_instances reached)"
        self._record(job_id, run_time, RunOutcome("skipped", self._clock.now(), error=error))
        self._log(logging.WARNING, job_id, "skipped", error, outcome="skipped",
                  scheduled_for=run_time.isoformat())

    def _missed(self, event: JobExecutionEvent) -> None:
        assert event.scheduled_run_time is not None
        count = "an unknown number of" if event.missed_runs is None else str(event.missed_runs)
        error = f"missed {count} run(s), the first scheduled for {self._show(event.scheduled_run_time)}"
        self._record(event.job_id or "", event.scheduled_run_time,
                     RunOutcome("missed", self._clock.now(), error=error,
                                missed_runs=event.missed_runs))
        self._log(logging.WARNING, event.job_id or "", "missed", error, outcome="missed")

    def _finished(self, event: JobExecutionEvent) -> None:
        assert event.scheduled_run_time is not None
        outcome = outcome_of(event, self._clock.now())
        job_id = event.job_id or ""
        if outcome.state == "interrupted" and self._handed_over(
            job_id, event.scheduled_run_time, outcome
        ):
            self._give_up(job_id, event.scheduled_run_time, outcome)
            return
        if not self._record(event.job_id or "", event.scheduled_run_time, outcome):
            self._log(logging.WARNING, event.job_id or "", "fenced",
                      f"{_summary(outcome)}; not recorded: this node lost the run's lease and "
                      "another node took the run over", outcome=outcome.state,
                      scheduled_for=event.scheduled_run_time.isoformat())
            self._give_up(job_id, event.scheduled_run_time, outcome)
            return
        if self._after_run is not None:
            self._after_run(event.job_id or "", event.scheduled_run_time, outcome)
        level = logging.INFO if outcome.state in ("success", REPLACED) else logging.ERROR
        summary = _summary(outcome)
        if outcome.state == "error" and outcome.output:  # a Python job raised: show where
            summary += "\n" + outcome.output.rstrip()
        self._log(level, event.job_id or "", outcome.state, summary, outcome=outcome.state,
                  duration=outcome.duration, exit_code=outcome.exit_code, signal=outcome.signal,
                  scheduled_for=event.scheduled_run_time.isoformat())

    def attempt_failed(
        self, job_id: str, scheduled_for: datetime | None, result: CommandResult, delay: float
    ) -> None:
        """A failed attempt that will be retried: record it, and the next attempt as started."""
        if scheduled_for is None:
            return
        self._record(job_id, scheduled_for, _from_result(result, self._clock.now()))
        at = self._clock.now() + timedelta(seconds=delay)
        self._write(job_id, lambda: self._history.started(
            job_id, scheduled_for, at=at, owner=self._owner, reason=self._reason,
            attempt=result.attempt + 1))
        self._log(logging.WARNING, job_id, "retry",
                  f"{_summary(_from_result(result, self._clock.now()))}; attempt {result.attempt + 1} "
                  f"in {format_seconds(delay)}", outcome=result.outcome, exit_code=result.exit_code)

    def refused(self, job_id: str, run_time: datetime, error: str) -> None:
        """A run the run guard refused: recorded as not started (the guard logged why, once)."""
        self._record(job_id, run_time, RunOutcome("not_started", self._clock.now(), error=error))

    def _give_up(self, job_id: str, run_time: datetime, outcome: RunOutcome) -> None:
        """The attempt ended here, unrecorded: the node that reaps it records it as
        ``orphaned`` (and reruns it or not); only this node knows its ping's rid."""
        if self._given_up is not None:
            self._given_up(job_id, run_time, dataclasses.replace(outcome, state="orphaned"))

    def _handed_over(self, job_id: str, run_time: datetime, outcome: RunOutcome) -> bool:
        """A run this node's stop cut short, on a shared store: left to the other nodes."""
        try:
            handed = self._history.hand_over(job_id, run_time, outcome.attempt, owner=self._owner,
                                             reason=self._reason)
        except StoreError as exc:
            self._history_failed(job_id, exc)
            return False
        if handed:
            self._log(logging.WARNING, job_id, "handed-over",
                      f"{_summary(outcome)}; cut short by this node's stop, so its lease is given "
                      "up: another node handles the run as its on_orphan says",
                      outcome=outcome.state, scheduled_for=run_time.isoformat())
        return handed

    def _record(self, job_id: str, run_time: datetime, outcome: RunOutcome) -> bool:
        """Write the outcome; False only when the run's lease was lost (fenced)."""
        if outcome.state in NEVER_STARTED:  # a refused rerun ends the attempt this node holds
            outcome = dataclasses.replace(outcome, attempt=self._history.held_attempt(job_id, run_time))
        try:
            written = self._write(job_id, lambda: self._history.finished(
                job_id, run_time, outcome, owner=self._owner, reason=self._reason))
        except Exception:  # history is precious but never worth stopping the scheduler for
            self._logger.exception("Could not record the run of %s in the history", job_id)
            return True
        return written is not False  # held for later counts as written: no lease is lost

    def _write(self, job_id: str, write: Callable[[], object]) -> object:
        """Make one history write after those held, or hold it while the store fails
        (then None); errors other than StoreError are raised."""
        try:
            done, value = self._pending.write(write)
        except StoreError as exc:
            self._history_failed(job_id, exc)
            return None
        if done:
            self._history_down = False
        return value

    def flush(self) -> bool:
        """Make the writes held during a store outage; True when none is left."""
        done = self._pending.flush()
        if done:
            self._history_down = False
        return done

    @property
    def held(self) -> int:
        """How many history writes wait for the store to work again."""
        return len(self._pending)

    def _history_failed(self, job_id: str, exc: StoreError) -> None:
        """Say it once, in one line (the store's message says it all), not for every run."""
        if not self._history_down:
            self._logger.warning("%s: this run and those after it cannot be recorded in the history "
                                 "until the state file works again, and are written then: %s",
                                 job_id, exc)
        self._history_down = True

    def _log(self, level: int, job_id: str, event: str, message: str, **fields: Any) -> None:
        self._logger.log(level, "%s: %s", job_id, message, extra={"job_id": job_id, "event": event, **fields})

    def _show(self, when: datetime) -> str:
        return log_time(when)


def outcome_of(event: JobExecutionEvent, now: datetime) -> RunOutcome:
    """The history row for a run's outcome: command results carry exit codes and output."""
    if event.code == EVENT_JOB_EXECUTED:
        result = event.retval if isinstance(event.retval, CommandResult) else None
        return _from_result(result, now) if result else RunOutcome("success", now)
    exc = event.exception
    if isinstance(exc, CommandFailedError):
        return _from_result(exc.result, now)
    text = event.traceback or "".join(tb.format_exception_only(type(exc), exc)) if exc else None
    return RunOutcome("error", now, error=f"{type(exc).__name__}: {exc}", output=text)


def _from_result(result: CommandResult, now: datetime) -> RunOutcome:
    return RunOutcome(
        result.outcome, result.finished_at or now, duration=result.duration,
        exit_code=result.exit_code, signal=result.signal, error=result.error,
        output=result.output_tail or None, attempt=result.attempt,
    )


def _summary(outcome: RunOutcome) -> str:
    return summarize(outcome.state, exit_code=outcome.exit_code, signal=outcome.signal,
                     duration=outcome.duration, error=outcome.error)
