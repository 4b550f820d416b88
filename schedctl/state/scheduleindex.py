"""Every job's next run time and whether it is paused, read from the store's index alone:
what the metrics exporter reads at every scrape, with no job decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import from_epoch_ms


@dataclass(frozen=True)
class ScheduleEntry:
    """A job as the index has it: no job is decoded, so reading a thousand is cheap."""

    id: str
    next_run_ms: int | None  # UTC epoch milliseconds; None: paused, or started at boot only
    paused: bool

    @property
    def next_run_time(self) -> datetime | None:
        return None if self.next_run_ms is None else from_epoch_ms(self.next_run_ms)


def schedule_index(store: SQLJobStore) -> list[ScheduleEntry]:
    """Every job's next run time and whether it is paused, in id order. Only a job without
    a next run time is looked into, to tell a paused job from an ``@reboot`` one."""
    with store._reading() as conn:
        rows = conn.execute(
            "SELECT id, next_run_time, CASE WHEN next_run_time IS NULL THEN state END"
            " FROM jobs ORDER BY id"
        ).fetchall()
    return [
        ScheduleEntry(str(job_id), int(when), False) if when is not None
        else ScheduleEntry(str(job_id), None, not _at_boot(state))
        for job_id, when, state in rows
    ]


def _at_boot(state: str) -> bool:
    try:
        return json.loads(state)["trigger"]["type"] == "boot"
    except (ValueError, KeyError, TypeError):
        return False

