"""Run a command to its end: the call for one run, and the job function the scheduler stores.

:func:`run_command` starts a :class:`~schedctl.commands.running.RunningCommand`, waits
for it and hands back how it ended; :func:`execute_command` is the same for a job, whose
stored reference (``schedctl.commands.runner:execute_command``) names this module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from schedctl.clock import Clock
from schedctl.commands.leaselink import LeaseLink
from schedctl.commands.processes import DEFAULT_REGISTRY, ProcessRegistry, RunKey
from schedctl.commands.running import RunningCommand
from schedctl.commands.spec import (
    CommandFailedError,
    CommandResult,
    CommandSpec,
    CommandStartError,
)

__all__ = ["execute_command", "run_command"]


def run_command(
    spec: CommandSpec,
    *,
    job_id: str,
    extra_env: Mapping[str, str] | None = None,
    logger: logging.Logger | None = None,
    clock: Clock | None = None,
    registry: ProcessRegistry | None = None,
    lease: LeaseLink | None = None,
    run: RunKey | None = None,
) -> CommandResult:
    """Start and wait; problems of the command come back as a result, never as an exception.

    With a ``lease``, the command is killed if the lease could not be renewed in time.
    ``run`` tells the ``registry`` which run of the history the command is.
    """
    try:
        command = RunningCommand.start(
            spec, job_id=job_id, extra_env=extra_env, logger=logger, clock=clock, lease=lease
        )
    except CommandStartError as exc:
        return exc.result
    if registry is not None:
        registry.add(command, run)
    try:
        return command.wait()
    except BaseException:
        command.kill()  # the waiting thread is going away: leave no orphaned group behind
        command._release_lease()
        raise
    finally:
        if registry is not None:
            registry.discard(command)


def execute_command(
    job_id: str,
    spec: Mapping[str, Any],
    *,
    extra_env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    registry: ProcessRegistry | None = None,
) -> CommandResult:
    """The job function the scheduler stores (``schedctl.commands.runner:execute_command``).

    Takes the JSON-able form of a CommandSpec, returns the result of a successful run
    and raises CommandFailedError otherwise, so the engine emits EVENT_JOB_ERROR.
    """
    result = run_command(
        CommandSpec.from_dict(spec),
        job_id=job_id,
        extra_env=extra_env,
        clock=clock,
        registry=DEFAULT_REGISTRY if registry is None else registry,
    )
    if not result.ok:
        raise CommandFailedError(job_id, result)
    return result
