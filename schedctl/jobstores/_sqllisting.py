"""Listing the jobs of an SQL store: what a reader shows of each, without rebuilding it.

``schedctl list`` over 1,000 jobs spent half its reading in ``json.loads`` of whole job
states (about 1 KB each, mostly hashes and alert specs it never shows). A listing reads
only the trigger, the executor, the function and a few ``meta`` keys: SQLite's JSON
functions pick them out of each row (``LISTING_SQL``), other stores from the decoded
state (``listing_row``). Jobs on one schedule share one trigger, built once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from schedctl.job import STATE_VERSION, Job
from schedctl.timeutil import from_epoch_ms
from schedctl.triggers._common import encode_json
from schedctl.triggers.base import BaseTrigger, trigger_from_json

#: The order a listing reads jobs in: next run first, paused last (as ``get_all_jobs``).
ORDER = "ORDER BY next_run_time IS NULL, next_run_time, id"

#: A row as a listing reads it: id, next run time (epoch ms), the trigger's state as JSON
#: text, and [state version, executor, func, *the meta values asked for]; both None when
#: the state is not JSON.
ListingRow = tuple[str, "int | None", "str | None", "list[Any] | None"]


class JobListing(NamedTuple):
    """A stored job as a listing shows it. ``meta`` holds the keys asked for whose value
    is not null (a null counts as absent)."""

    id: str
    next_run_time: datetime | None
    trigger: BaseTrigger
    executor: str
    func_ref: str | None
    meta: dict[str, Any]

    @classmethod
    def of(cls, job: Job, meta_keys: Sequence[str]) -> JobListing:
        """The listing of a job already decoded."""
        meta = {key: job.meta[key] for key in meta_keys if job.meta.get(key) is not None}
        return cls(job.id, job.next_run_time, job.trigger, job.executor, job.func_ref, meta)


def check_keys(meta_keys: Sequence[str]) -> None:
    """Meta keys go into JSON paths of the SQL: plain names only."""
    for key in meta_keys:
        if not key.isidentifier():
            raise ValueError(f"meta key {key!r}: expected a name")


def listing_sql(meta_keys: Sequence[str]) -> str:
    """SQLite: each row's listed fields picked out by ``json_extract``, in one array."""
    check_keys(meta_keys)
    paths = ", ".join(["'$.version'", "'$.executor'", "'$.func'",
                       *(f"'$.meta.{key}'" for key in meta_keys)])
    return (
        "SELECT id, next_run_time,"
        " CASE WHEN json_valid(state) THEN json_extract(state, '$.trigger') END,"
        f" CASE WHEN json_valid(state) THEN json_extract(state, {paths}) END"
        f" FROM jobs {ORDER}"
    )


def listing_row(row: Sequence[Any], meta_keys: Sequence[str]) -> ListingRow:
    """A ``(id, next_run_time, version, state)`` row as a listing reads it, decoded here."""
    job_id, next_run_time, _, text = row
    try:
        state = json.loads(text)
        trigger = state.get("trigger")
        meta = state.get("meta")
    except (ValueError, TypeError, AttributeError):
        return job_id, next_run_time, None, None
    meta = meta if isinstance(meta, dict) else {}
    fields = [state.get("version"), state.get("executor"), state.get("func"),
              *(meta.get(key) for key in meta_keys)]
    return job_id, next_run_time, None if trigger is None else encode_json(trigger), fields


def listing_of(row: ListingRow, meta_keys: Sequence[str],
               triggers: dict[str, BaseTrigger]) -> JobListing | None:
    """The listing of ``row``; None when the row is not one a listing can read (the caller
    decodes it as a job, which says why it cannot be loaded)."""
    job_id, next_run_time, trigger_text, fields = row
    if trigger_text is None or fields is None or fields[0] != STATE_VERSION \
            or type(fields[0]) is not int:
        return None
    trigger = triggers.get(trigger_text)
    if trigger is None:
        trigger = triggers[trigger_text] = trigger_from_json(json.loads(trigger_text))
    meta = {key: value for key, value in zip(meta_keys, fields[3:]) if value is not None}
    when = None if next_run_time is None else from_epoch_ms(int(next_run_time))
    return JobListing(job_id, when, trigger, fields[1], fields[2], meta)
