"""Warnings about what a job reads or runs from, for ``validate`` to print before a run
would trip on it.

An ``env_file`` is read at each run, not at load: one the run would refuse (untrusted, not
a regular file, over 1 MiB) fails that run, not the jobfile, since it may be fixed before
the run; ``validate`` names it now so that it is fixed before the first run fails.
"""

from __future__ import annotations

import os

from schedctl.commands.spec import env_file_problem
from schedctl.jobfile.specs import Jobfile, JobSpec
from schedctl.trust import trust_problem


def job_warnings(jobfile: Jobfile, *, uid: int | None = None) -> list[str]:
    """One line per problem, as ``FILE:LINE: jobs.ID.KEY: ...``, for a scheduler run by
    ``uid`` (default: this process's user)."""
    found: list[str] = []
    for spec in jobfile.jobs.values():
        found += [f"{jobfile.path}:{spec.line}: jobs.{spec.id}.{key}: {text}"
                  for key, text in _job_problems(spec, uid)]
    return found


def _job_problems(spec: JobSpec, uid: int | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if spec.env_file is not None and (problem := _env_file_problem(spec.env_file, uid)):
        problems.append(("env_file", f"each run would be refused: {problem}"))
    return problems


def _env_file_problem(path: str, uid: int | None) -> str | None:
    """What would make a run refuse ``path``; None when it is fine or missing (a file read
    at each run may be put in place later)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if (untrusted := trust_problem(path, uid=uid)) is not None:
        return f"{path}: not trusted: {untrusted}"
    return None if (problem := env_file_problem(info)) is None else f"{path} {problem}"
