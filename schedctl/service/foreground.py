"""One run of a job in this process (``schedctl run-now`` with no scheduler), and the
terminal's signals while it runs.

Ctrl-C (SIGINT), SIGTERM and SIGHUP end such a run the way a scheduler's stop ends one:
the command's process group gets SIGTERM, then SIGKILL after the job's ``kill_grace``
(a second signal: at once), retries are given up, and the run is recorded as
``interrupted``, with the signal, before the process exits. Left to Python's default,
the signal would end ``schedctl`` and leave the run ``running`` in the history, with
its command still going in its own session. The job runs in a worker thread, so the
main thread is free to take the signals.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from schedctl.commands.jobrunner import STOP_RETRIES
from schedctl.commands.processes import DEFAULT_REGISTRY
from schedctl.commands.spec import CommandFailedError, format_seconds, signal_name
from schedctl.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from schedctl.executors.base import RunContext, running_as
from schedctl.job import Job
from schedctl.state.history import RunOutcome

#: The signals that end a run made in the foreground.
FOREGROUND_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: How long past its kill_grace a stopped run may take to report how it ended.
_REPORT_SECONDS = 5.0
_STEP_SECONDS = 0.05
#: Steps with no command to stop after which a run is taken as a Python function's.
_IDLE_STEPS = 4


class ForegroundSignal(BaseException):
    """Raised in the main thread by a signal that ends the foreground run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


@dataclass
class SignalGate:
    """What the handlers do: raise while the run is waited for; otherwise only note the
    signal, to raise it when the gate opens (a history write is never cut in half)."""

    first: int | None = None  # the signal that ended the run
    _raising: bool = False
    _pending: bool = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is None:
            self.first = signum
        if self._raising:
            raise ForegroundSignal(signum)
        self._pending = True

    @contextmanager
    def open(self) -> Iterator[None]:
        if self._pending:
            self._pending = False
            raise ForegroundSignal(self.first or signal.SIGINT)
        self._raising = True
        try:
            yield
        finally:
            self._raising = False


@contextmanager
def foreground_signals() -> Iterator[SignalGate]:
    """Install the handlers for this block; the previous ones are put back after it."""
    gate = SignalGate()
    if threading.current_thread() is not threading.main_thread():  # only it may take signals
        yield gate
        return
    saved = {signum: signal.signal(signum, gate.handle) for signum in FOREGROUND_SIGNALS}
    try:
        yield gate
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def run_in_foreground(job: Job, started: datetime, gate: SignalGate) -> JobExecutionEvent | None:
    """Run ``job`` once in a worker thread; stop it when a signal comes. The event of how
    it ended, or None for a run that did not end (a Python function cannot be stopped)."""
    done = threading.Event()
    ended: list[JobExecutionEvent] = []
    worker = threading.Thread(target=_call, args=(job, started, ended, done), daemon=True,
                              name=f"schedctl-run-now {job.id}")
    try:
        with gate.open():
            worker.start()
            done.wait()
    except ForegroundSignal:
        _stop(done, gate, float(job.meta.get("kill_grace", 10.0)))
    return ended[0] if ended else None


def _call(job: Job, started: datetime, ended: list[JobExecutionEvent], done: threading.Event) -> None:
    try:
        with running_as(RunContext(job.id, None, started)):
            retval = job.func(*job.args, **job.kwargs)
    except Exception as exc:  # noqa: BLE001 - the job's own error: its outcome, recorded
        ended.append(JobExecutionEvent(code=EVENT_JOB_ERROR, job_id=job.id,
                                       scheduled_run_time=started, exception=exc))
    else:
        ended.append(JobExecutionEvent(code=EVENT_JOB_EXECUTED, job_id=job.id,
                                       scheduled_run_time=started, retval=retval))
    finally:
        done.set()


def _stop(done: threading.Event, gate: SignalGate, grace: float) -> None:
    """SIGTERM the command, SIGKILL after ``grace`` (enforced by the worker's own wait), or at
    once on a second signal; then wait for the worker to report."""
    STOP_RETRIES.set()
    seen = False  # a command to stop; without one for a while, a Python function runs
    try:
        with gate.open():
            # Asked again and again: the signal may have come before the command registered.
            for step in range(int((grace + _REPORT_SECONDS) / _STEP_SECONDS)):
                seen = bool(DEFAULT_REGISTRY.terminate_all(grace, wait=False)) or seen
                if done.wait(_STEP_SECONDS) or (not seen and step >= _IDLE_STEPS):
                    return  # ended, or nothing here can end it: recorded as it stands
    except ForegroundSignal:
        DEFAULT_REGISTRY.terminate_all(0.0, wait=False)
        done.wait(_REPORT_SECONDS)


def interrupted(event: JobExecutionEvent | None, signum: int, started: datetime,
                now: datetime) -> RunOutcome:
    """The history row of a run a signal ended: what the command did, and which signal."""
    result = event.exception.result if event and isinstance(event.exception, CommandFailedError) else None
    duration = result.duration if result is not None else (now - started).total_seconds()
    return RunOutcome(
        "interrupted", now, duration=duration,
        exit_code=result.exit_code if result is not None else None, signal=signum,
        error=f"interrupted by {signal_name(signum)} in the foreground after "
              f"{format_seconds(duration)}",
        output=(result.output_tail or None) if result is not None else None,
        attempt=result.attempt if result is not None else 1,
    )
