"""The job function of every ``command:`` job: per-run environment, retries, attempts.

``schedctl run`` stores command jobs as ``schedctl.commands.jobrunner:run_command_job``
with JSON keyword arguments. Each run tells the command when it was scheduled,
which attempt it is and its run id (``SCHEDCTL_SCHEDULED_FOR``,
``SCHEDCTL_ATTEMPT``, ``SCHEDCTL_RUN_ID``), so a job can deduplicate its own
side effects; a failed attempt is retried after
``retry_delay * backoff ** (attempt - 1)``. A run whose store grants leases goes
through the shim, which ends the command if the lease can no longer be kept.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from schedctl.clock import SystemClock, lease_monotonic
from schedctl.commands.processes import DEFAULT_REGISTRY
from schedctl.commands.runner import run_command
from schedctl.commands.spawn import _not_started
from schedctl.commands.spec import CommandFailedError, CommandResult, CommandSpec
from schedctl.executors.base import current_run
from schedctl.jobstores.leases import CLAIMS, Claim

#: Called in the worker thread after a failed attempt that will be retried:
#: ``(job_id, scheduled_for, result, delay_seconds)``. ``schedctl run`` records it.
AttemptListener = Callable[[str, "datetime | None", CommandResult, float], None]
ATTEMPT_LISTENERS: list[AttemptListener] = []

#: Called in the worker thread just before a retry starts: ``(job_id, scheduled_for, attempt)``.
#: ``schedctl run`` sends the attempt's start ping.
RetryListener = Callable[[str, "datetime | None", int], None]
RETRY_LISTENERS: list[RetryListener] = []

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
    claim = _claim(job_id, scheduled_for)
    attempt = claim.attempt if claim else 1  # a rerun after an orphaned attempt goes on counting
    first = attempt
    while True:
        env["SCHEDCTL_ATTEMPT"] = str(attempt)
        env["SCHEDCTL_RUN_ID"] = str(claim.run_id) if claim else ""
        lease = claim if claim is not None and claim.leased else None
        if lease is not None and lease.fenced:
            raise CommandFailedError(job_id, _fenced_result(attempt))
        if attempt > first:
            for retry_listener in RETRY_LISTENERS:
                retry_listener(job_id, scheduled_for, attempt)
        result = run_command(command, job_id=job_id, extra_env=env, registry=DEFAULT_REGISTRY,
                             lease=lease, run=(scheduled_for, attempt) if scheduled_for else None)
        if attempt > 1:  # results say attempt 1 by default; copy only when it is not
            result = dataclasses.replace(result, attempt=attempt)
        if result.ok:
            return result
        # A replaced run makes way for a newer one: retrying it would take the place back.
        if result.outcome == "replaced" or attempt > retries or STOP_RETRIES.is_set() or _lost(lease):
            raise CommandFailedError(job_id, result)
        delay = retry_delay * backoff ** (attempt - 1)
        for listener in ATTEMPT_LISTENERS:
            listener(job_id, scheduled_for, result, delay)
        if STOP_RETRIES.wait(delay):
            raise CommandFailedError(job_id, result)
        attempt += 1
        next_claim = _claim(job_id, scheduled_for, attempt)
        if lease is not None and next_claim is None:
            # Leased, the next attempt runs only under its own claim: without one, another
            # node holds it (a rerun of ours), or the store could not be written.
            raise CommandFailedError(job_id, result)
        claim = next_claim


def _claim(job_id: str, scheduled_for: datetime | None, attempt: int | None = None) -> Claim | None:
    """This node's claim on the run (its run id and lease), when the store records runs."""
    if scheduled_for is None:
        return None
    claim = CLAIMS.latest(job_id, scheduled_for)
    if claim is None or (attempt is not None and claim.attempt != attempt):
        return None
    return claim


def _lost(lease: Claim | None) -> bool:
    """Whether a leased attempt's lease is gone: fenced by the keeper, or past the deadline
    its shim enforces (the keeper may not have noticed yet)."""
    return lease is not None and (lease.fenced or lease_monotonic() >= lease.first_deadline())


def _fenced_result(attempt: int) -> CommandResult:
    result = _not_started("the run's lease was lost before the command started",
                          lease_monotonic(), SystemClock())
    return dataclasses.replace(result, attempt=attempt)
