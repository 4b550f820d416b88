"""The rows of the SQL stores: the shared statements, the row shape and its encoding.

One place for what a ``jobs`` row looks like, so the SQLite and PostgreSQL stores
and the shared claim code cannot disagree on columns or on rounding of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from math import isfinite
from typing import Any, Protocol

from schedctl.job import STATE_VERSION, Job
from schedctl.timeutil import EPOCH, UTC, to_utc
from schedctl.triggers._common import encode_json, json_text

COLUMNS = "id, next_run_time, version, state"
INSERT_JOB = "INSERT INTO jobs (id, next_run_time, version, state) VALUES (?, ?, 1, ?)"
DUE_JOBS = f"SELECT {COLUMNS} FROM jobs WHERE next_run_time <= ? ORDER BY next_run_time, id"

Row = tuple[str, "int | None", int, str]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the shared SQL needs of a connection: ``?`` placeholders, a cursor back."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...


def encode(job: Job) -> tuple[str, int | None, str]:
    """The (id, next_run_time, state) row; ValueError if the job cannot be stored."""
    state = written_state(job) or job.to_json()
    next_run_time = None if job.next_run_time is None else ceil_ms(job.next_run_time)
    return job.id, next_run_time, state


def written_state(job: Job) -> str | None:
    """``job.to_json()``'s very text, written field by field, when every option has the type
    the constructor leaves and the trigger writes its own: the generic encoder was half the
    cost of adding many jobs. None leaves the job to ``to_json``, errors included."""
    trigger = job.trigger.state_json()
    job_id, name, func, executor = job.id, job.name, job.func_ref, job.executor
    grace, instances = job.misfire_grace_time, job.max_instances
    if (
        trigger is None
        or type(job_id) is not str or type(name) is not str
        or type(func) is not str or type(executor) is not str
        or type(job.coalesce) is not bool
        or type(instances) is not int
        or not (grace is None or type(grace) in (float, int) and isfinite(grace))
    ):
        return None
    try:
        args = encode_json(list(job.args)) if job.args else "[]"
        kwargs = encode_json(job.kwargs) if job.kwargs else "{}"
        meta = encode_json(job.meta) if job.meta else "{}"
    except (TypeError, ValueError, RecursionError):
        return None
    return (
        f'{{"version":{STATE_VERSION},"id":{json_text(job_id)},"name":{json_text(name)},'
        f'"func":{json_text(func)},"args":{args},"kwargs":{kwargs},"trigger":{trigger},'
        f'"executor":{json_text(executor)},'
        f'"misfire_grace_time":{"null" if grace is None else repr(grace)},'
        f'"coalesce":{"true" if job.coalesce else "false"},'
        f'"max_instances":{instances},"meta":{meta}}}'
    )


def ceil_ms(value: datetime) -> int:
    """Milliseconds, rounded up: a stored time is never before the real one, so the job
    is never claimed early and its trigger's "next time after it" is never the same slot."""
    delta = (value if value.tzinfo is UTC else to_utc(value)) - EPOCH
    whole = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return whole + 1 if delta.microseconds % 1000 else whole


#: A claimed job's new next run time, or its removal: compare-and-set on version.
ADVANCE_JOB = "UPDATE jobs SET next_run_time = ?, version = version + 1 WHERE id = ? AND version = ?"
REMOVE_CLAIMED_JOB = "DELETE FROM jobs WHERE id = ? AND version = ?"


def advance_one(conn: Connection, job: Job, next_run_time: datetime | None) -> bool:
    """Save a claimed job's new next run time (or remove it); compare-and-set on version."""
    if next_run_time is None:
        cursor = conn.execute(REMOVE_CLAIMED_JOB, (job.id, job.version))
    else:
        cursor = conn.execute(ADVANCE_JOB, (ceil_ms(next_run_time), job.id, job.version))
    return cursor.rowcount == 1

