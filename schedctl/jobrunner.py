"""The job function of every ``command:`` job: per-run environment, retries, attempts.

``schedctl run`` stores command jobs as ``schedctl.jobrunner:run_command_job``
with JSON keyword arguments. Each run tells the command when it was scheduled
and which attempt it is (``SCHEDCTL_SCHEDULED_FOR``, ``SCHEDCTL_ATTEMPT``), and
a failed attempt is retried after ``retry_delay * backoff ** (attempt - 1)``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from schedctl.commands import (
    DEFAULT_REGISTRY,
    CommandFailedError,
    CommandResult,
    CommandSpec,
    run_command,
)
from schedctl.executors.base import current_run

#: Called in the worker thread after a failed attempt that will be retried:
#: ``(job_id, scheduled_for, result, delay_seconds)``. ``schedctl run`` records it.
AttemptListener = Callable[[str, "datetime | None", CommandResult, float], None]
ATTEMPT_LISTENERS: list[AttemptListener] = []

#: Set when the scheduler stops: waits between attempts end at once, and no new attempt starts.
STOP_RETRIES = threading.Event()


def run_command_job(
    job_id: str, spec: Mapping[str, Any], *, retries: int = 0, retry_delay: float = 10.0,
    backoff: float = 2.0,
) -> CommandResult:
    """Run the command, retrying failures; return the successful result or raise
    CommandFailedError with the last one (whose ``attempt`` says how many were made)."""
    command = CommandSpec.from_dict(spec)
    run = current_run()
    scheduled_for = run.scheduled_run_time if run else None
    env = {"SCHEDCTL_SCHEDULED_FOR": scheduled_for.isoformat() if scheduled_for else ""}
    attempt = 1
    while True:
        env["SCHEDCTL_ATTEMPT"] = str(attempt)
        result = run_command(command, job_id=job_id, extra_env=env, registry=DEFAULT_REGISTRY)
        if attempt > 1:  # results say attempt 1 by default; copy only when it is not
            result = dataclasses.replace(result, attempt=attempt)
        if result.ok:
            return result
        if attempt > retries or STOP_RETRIES.is_set():
            raise CommandFailedError(job_id, result)
        delay = retry_delay * backoff ** (attempt - 1)
        for listener in ATTEMPT_LISTENERS:
            listener(job_id, scheduled_for, result, delay)
        if STOP_RETRIES.wait(delay):
            raise CommandFailedError(job_id, result)
        attempt += 1
