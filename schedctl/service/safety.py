"""Refusing unsafe set-ups before anything runs, as cron does.

Run as root, a jobfile that someone else can write is a way for them to run
commands as root; so it must belong to root and be writable by root alone. Not
root, a scheduler cannot run a job as another user, and says so at start.
"""

from __future__ import annotations

import os
import stat

from schedctl.commands.runas import switch_problem
from schedctl.errors import SchedctlError
from schedctl.jobfile.specs import Jobfile


class InsecureJobfileError(SchedctlError):
    exit_code = 2


def check_jobfile_safety(path: str, *, insecure: bool = False) -> None:
    """Raise InsecureJobfileError when running as root with a jobfile others could change."""
    if insecure or os.geteuid() != 0:
        return
    try:
        info = os.stat(path)
    except OSError:
        return  # loading the jobfile reports why it cannot be read, before anything runs
    problems = []
    if info.st_uid != 0:
        problems.append(f"it is owned by uid {info.st_uid}, not root")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"group or others may write it (mode {stat.filemode(info.st_mode)})")
    if problems:
        raise InsecureJobfileError(
            f"{path}: refusing to run as root: {'; '.join(problems)}. "
            f"Fix with 'chown root: {path} && chmod go-w {path}', or pass --insecure"
        )


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
