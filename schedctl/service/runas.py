"""Refusing, before anything runs, ``user:`` jobs that this scheduler cannot run.

Not root, a scheduler cannot run a job as another user, and says so at start (and at
a reload) rather than at the job's first run.
"""

from __future__ import annotations

from schedctl.commands.runas import switch_problem
from schedctl.errors import SchedctlError
from schedctl.jobfile.specs import Jobfile


class RunAsRefusedError(SchedctlError):
    """A job names a user this scheduler cannot run commands as."""

    exit_code = 2


def check_run_as(jobfile: Jobfile) -> None:
    """Refuse, before anything runs, a jobfile whose ``user:`` jobs this process cannot
    switch to: any other user when not root, or a user missing since validation."""
    problems = []
    for spec in jobfile.jobs.values():
        problem = switch_problem(spec.user) if spec.user is not None else None
        if problem:
            problems.append(f"{jobfile.path}:{spec.line}: jobs.{spec.id}.user: {problem}")
    if problems:
        raise RunAsRefusedError("\n".join(problems))
