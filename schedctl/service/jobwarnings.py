"""Warnings about what a job reads or runs from: ``validate`` prints them, and ``schedctl
run`` logs them at start and at each reload.

An ``env_file`` is read at each run, not at load: one the run would refuse (untrusted, not
a regular file, over 1 MiB) fails that run, not the jobfile, since it may be fixed before
the run; it is named now so that it is fixed before the first run fails.

A root job's ``cwd`` that another user may write (or own, or replace through a directory
on its path) lets that user plant what the command runs or reads from there: a relative
``./backup.sh``, a ``.env``, a module. Only a warning: what a command reads from its
directory cannot be told from its text, and a jobfile that ran yesterday keeps running.
So is a root job's ``PATH`` (from its ``env``) naming such a directory, one that does not
exist yet where another user could make it, or a relative one (the working directory): a
program planted there under the name the command runs comes before the real one. cron
runs it all the same; a ``PATH`` schedctl inherits is the administrator's own.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat

from schedctl.commands.spec import env_file_problem
from schedctl.jobfile.specs import Jobfile, JobSpec
from schedctl.trust import trust_problem

_logger = logging.getLogger("schedctl.run")


def job_warnings(jobfile: Jobfile, *, uid: int | None = None) -> list[str]:
    """One line per problem, as ``FILE:LINE: jobs.ID.KEY: ...``, for a scheduler run by
    ``uid`` (default: this process's user)."""
    found: list[str] = []
    for spec in jobfile.jobs.values():
        found += [f"{jobfile.path}:{spec.line}: jobs.{spec.id}.{key}: {text}"
                  for key, text in _job_problems(spec, uid)]
    return found


def log_job_warnings(jobfile: Jobfile) -> None:
    """Log each warning of :func:`job_warnings` (at start and at each reload)."""
    for line in job_warnings(jobfile):
        _logger.warning("%s", line)


def _job_problems(spec: JobSpec, uid: int | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if spec.env_file is not None and (problem := _env_file_problem(spec.env_file, uid)):
        problems.append(("env_file", f"each run would be refused: {problem}"))
    if spec.cwd is not None and _runs_as_root(spec, uid) and (problem := _cwd_problem(spec.cwd)):
        problems.append(("cwd", f"the job runs as root in {spec.cwd}, where another user could "
                                f"plant a file it runs or reads: {problem}, or set cwd to a "
                                "directory only root may write"))
    if "PATH" in spec.env and spec.command is not None and _runs_as_root(spec, uid):
        problems += [("env.PATH", f"the job runs as root with {entry or repr(entry)} on its "
                                  f"PATH, where another user could plant a program it runs: "
                                  f"{problem}, or take it off the PATH")
                     for entry, problem in _path_problems(spec.env["PATH"])]
    return problems


def _runs_as_root(spec: JobSpec, uid: int | None) -> bool:
    if spec.user is None:
        return (os.geteuid() if uid is None else uid) == 0
    try:
        return pwd.getpwnam(spec.user).pw_uid == 0
    except KeyError:
        return False


def _cwd_problem(cwd: str) -> str | None:
    """What lets a user other than root change the directory a root job runs in, or make
    it where it is missing; None when nothing does (a missing one: the run says so)."""
    return _path_entry_problem(cwd)


def _changeable_problem(directory: str, info: os.stat_result) -> str | None:
    """What lets a user other than root add or replace a file in ``directory``."""
    if (problem := trust_problem(directory, uid=0)) is not None:
        return problem
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"group or others may write it (mode {stat.filemode(info.st_mode)}); "
                f"fix: chmod go-w {directory}")
    return None


def _path_problems(path: str) -> list[tuple[str, str]]:
    """Each ``PATH`` entry another user could change or make, with what lets them."""
    found = []
    for entry in dict.fromkeys(path.split(":")):
        if not entry.startswith("/"):
            found.append((entry, "a relative entry, searched from the job's working "
                                 "directory; fix: name directories from /"))
        elif (problem := _path_entry_problem(entry)) is not None:
            found.append((entry, problem))
    return found


def _path_entry_problem(entry: str) -> str | None:
    """What lets a user other than root change directory ``entry``, or make it."""
    try:
        info = os.stat(entry)
    except OSError:
        parent = os.path.dirname(entry.rstrip("/"))
        if parent == entry or not parent:
            return None
        try:
            parent_info = os.stat(parent)
        except OSError:
            return _path_entry_problem(parent)
        problem = _changeable_problem(parent, parent_info)
        return None if problem is None else (
            f"it does not exist, and another user could create it in {parent}: {problem}")
    return _changeable_problem(entry, info) if stat.S_ISDIR(info.st_mode) else None


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
