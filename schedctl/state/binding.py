"""What a job does, compared between the state file and the jobfile.

On a local state file the jobfile is the only source of what runs: the store only
remembers it. Whoever edits the store (with the ``sqlite3`` shell, say) could otherwise
change a job's command, environment or function and have the scheduler run it, so
every run is checked against the jobfile's own definition first, and a sync rewrites a
stored job whose action no longer matches.
"""

from __future__ import annotations

import json
from typing import Any

from schedctl.job import Job

#: What a job runs: its function and arguments (a command job's command, env, env_file,
#: cwd, shell, user, ... all sit in its keyword arguments), and the alerts it sends.
ACTION_META = ("on_failure", "on_recovery", "on_output")


def job_action(job: Job) -> dict[str, Any]:
    """The parts of ``job`` that decide what runs, as JSON data (tuples as lists)."""
    action = {"func": job.func_ref, "args": list(job.args), "kwargs": job.kwargs}
    action.update({key: job.meta.get(key) for key in ACTION_META})
    return json.loads(json.dumps(action, sort_keys=True, default=str))


def action_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The key paths where two actions differ (``kwargs.spec.command``), never their
    values: an environment may hold secrets."""
    if expected == actual:
        return []
    if not (isinstance(expected, dict) and isinstance(actual, dict)
            and set(expected) & set(actual)):
        return [""]  # named as a whole: the caller's key
    paths: list[str] = []
    for key in sorted(set(expected) | set(actual), key=str):
        if key not in expected or key not in actual:
            paths.append(str(key))
            continue
        for inner in action_differences(expected[key], actual[key]):
            paths.append(f"{key}.{inner}" if inner else str(key))
    return paths


def same_action(a: Job, b: Job) -> bool:
    return job_action(a) == job_action(b)
