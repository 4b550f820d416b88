"""The graceful stop of ``schedctl run``: wait for the running jobs, say which and for how
long, and let a second SIGINT or SIGTERM end the wait at once.

A stop that waits in silence looks hung, and one that a second Ctrl-C cannot cut short
makes people reach for ``kill -9``, which leaves the commands running without a record.
"""

from __future__ import annotations

import logging
import queue
import signal

from schedctl.clock import SystemClock
from schedctl.commands.processes import ProcessRegistry
from schedctl.commands.spec import format_seconds
from schedctl.executors.base import BaseExecutor

#: How often a stop waiting for jobs says again what it is waiting for.
REMIND_SECONDS = 10.0
#: How long one look at the executors may block before the signals are looked at again.
_STEP_SECONDS = 0.1

_logger = logging.getLogger("schedctl.run")


def running_jobs(executors: list[BaseExecutor], registry: ProcessRegistry) -> str:
    """``backup (running for 2m05s), report (2 runs)``: the jobs a stop waits for."""
    counts: dict[str, int] = {}
    for executor in executors:
        for job_id, count in executor.running_jobs().items():
            counts[job_id] = counts.get(job_id, 0) + count
    longest: dict[str, float] = {}
    for command in registry.running():
        longest[command.job_id] = max(longest.get(command.job_id, 0.0), command.running_for())
    parts = []
    for job_id in sorted(counts):
        notes = [f"{counts[job_id]} runs"] if counts[job_id] > 1 else []
        if job_id in longest:
            notes.append(f"running for {format_seconds(longest[job_id])}")
        parts.append(job_id + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def wait_for_jobs(
    executors: list[BaseExecutor], timeout: float, signals: queue.SimpleQueue[int],
    registry: ProcessRegistry,
) -> bool:
    """Wait up to ``timeout`` seconds for every executor to be idle; True if they are,
    False (and said why) when the running jobs are to be terminated.

    Says which jobs it waits for, and again every REMIND_SECONDS. A SIGINT or SIGTERM
    taken from ``signals`` meanwhile ends the wait at once; a SIGHUP is dropped, since a
    stopping scheduler reloads nothing.
    """
    if _idle(executors):
        return True
    clock = SystemClock()
    deadline = clock.monotonic() + timeout
    _logger.warning(
        "Waiting up to %s for %s to finish; Ctrl-C again (or SIGTERM) stops them now: "
        "SIGTERM, then SIGKILL after each job's kill_grace",
        format_seconds(timeout), running_jobs(executors, registry))
    remind = clock.monotonic() + REMIND_SECONDS
    while True:
        now = clock.monotonic()
        if now >= deadline:
            if _idle(executors):
                return True
            _logger.warning("Jobs still running after %s; terminating them: %s",
                            format_seconds(timeout), running_jobs(executors, registry))
            return False
        if now >= remind:
            _logger.info("Still waiting for %s (%s left)", running_jobs(executors, registry),
                         format_seconds(deadline - now))
            remind = now + REMIND_SECONDS
        if _idle(executors, wait=min(_STEP_SECONDS, deadline - now)):
            return True
        signum = _next_signal(signals)
        if signum in (signal.SIGINT, signal.SIGTERM):
            _logger.warning("Received %s again: stopping the running jobs now",
                            signal.Signals(signum).name)
            return False


def _idle(executors: list[BaseExecutor], wait: float = 0.0) -> bool:
    """Whether no executor runs a job; waits up to ``wait`` for the first busy one."""
    return all(executor.wait_idle(wait) for executor in executors)


def _next_signal(signals: queue.SimpleQueue[int]) -> int | None:
    try:
        return signals.get_nowait()
    except queue.Empty:
        return None
