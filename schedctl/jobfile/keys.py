"""Every key of a job and of an executor, with its check.

The checks themselves live by kind: :mod:`~schedctl.jobfile.triggerkeys`,
:mod:`~schedctl.jobfile.commandkeys`, :mod:`~schedctl.jobfile.alertkeys`, built
from :mod:`~schedctl.jobfile.values`. Checks see one key only; rules that involve
several keys (one trigger, known executor) live in :mod:`schedctl.jobfile.jobcheck`.
"""

from __future__ import annotations

import re
from typing import get_args

from schedctl.jobfile.alertkeys import check_alerts
from schedctl.jobfile.commandkeys import (
    OUTPUT_MODES,
    check_args,
    check_backoff,
    check_call,
    check_command,
    check_directory,
    check_env,
    check_env_file,
    check_kwargs,
    check_log_limit,
    check_output_limit,
    check_shell,
    check_stdin,
    check_user,
)
from schedctl.jobfile.pingkeys import check_ping
from schedctl.jobfile.specs import OrphanPolicy, OverlapPolicy
from schedctl.jobfile.triggerkeys import (
    check_cron,
    check_datetime,
    check_grace_time,
    check_interval,
    check_timezone,
)
from schedctl.jobfile.values import (
    Bad,
    Check,
    check_bool,
    check_count,
    check_duration,
    check_positive_duration,
    check_positive_int,
    choice,
    nonempty_text,
    optional,
    text,
)
from schedctl.jobfile.yamlmarks import Node

EXECUTOR_TYPES = ("threadpool", "processpool")
OVERLAP_POLICIES: tuple[str, ...] = get_args(OverlapPolicy)
ORPHAN_POLICIES: tuple[str, ...] = get_args(OrphanPolicy)
_JOB_ID = re.compile(r"[A-Za-z0-9_.@:-]+")


def check_job_id(job_id: str) -> None:
    if not job_id:
        raise Bad("a job id must not be empty")
    if not _JOB_ID.fullmatch(job_id):
        raise Bad(
            f"job id {job_id!r} may contain only letters, digits and _ . @ : - "
            "(it names the job on the command line and in the state store)"
        )


def check_executor_name(node: Node) -> str:
    return nonempty_text(node, "an executor name").strip()


#: The keys of an entry under ``executors``; defaults live in ExecutorSpec.
EXECUTOR_KEYS: dict[str, Check] = {
    "type": choice("executor type", EXECUTOR_TYPES),
    "max_workers": check_positive_int,
}

#: Every key a job (and ``defaults``) may have, with its check. Defaults live in JobSpec.
JOB_KEYS: dict[str, Check] = {
    "description": optional(text),
    "command": check_command,
    "call": check_call,
    "args": check_args,
    "kwargs": check_kwargs,
    "cron": check_cron,
    "interval": check_interval,
    "date": check_datetime,
    "timezone": optional(check_timezone),
    "start_date": optional(check_datetime),
    "end_date": optional(check_datetime),
    "jitter": optional(check_duration),
    "executor": check_executor_name,
    "misfire_grace_time": check_grace_time,
    "coalesce": check_bool,
    "max_instances": check_positive_int,
    "paused": check_bool,
    "env": check_env,
    "cwd": optional(check_directory),
    "stdin": optional(check_stdin),
    "timeout": optional(check_positive_duration),
    "shell": check_shell,
    "env_file": optional(check_env_file),
    "user": optional(check_user),
    "kill_grace": check_duration,
    "output": choice("output mode", OUTPUT_MODES),
    "output_limit": check_output_limit,
    "log_limit": check_log_limit,
    "overlap": choice("overlap policy", OVERLAP_POLICIES),
    "retries": check_count,
    "retry_delay": check_duration,
    "backoff": check_backoff,
    "catch_up": check_bool,
    "on_orphan": choice("orphan policy", ORPHAN_POLICIES),
    "on_failure": check_alerts,
    "on_recovery": check_alerts,
    "on_output": check_alerts,
    "ping": check_ping,
}
