"""Runs going on now, as ``schedctl top`` shows them: written by the running scheduler
(each command's pid and the output it printed so far), read by any process.

While a run goes on, its history row holds the pid in ``pid`` and the tail of the output
in ``output``; the run's end overwrites the tail with the final one. Only what changed is
written, once a second, in one short transaction, so an idle scheduler writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

#: Characters of a running command's output kept in its row: enough for a screen's lines.
LIVE_CHARS = 2000

#: ``(job_id, scheduled_for, attempt)``: one attempt of a run.
AttemptKey = tuple[str, datetime, int]


@dataclass(frozen=True)
class LiveRun:
    """An attempt of a run going on now."""

    job_id: str
    scheduled_for: datetime
    attempt: int
    started_at: datetime | None
    pid: int | None
    output: str
    owner: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "scheduled_for": self.scheduled_for.isoformat(),
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "pid": self.pid, "output": self.output, "owner": self.owner, "reason": self.reason,
        }


def publish_live(
    store: SQLJobStore, attempts: Mapping[AttemptKey, tuple[int, str]], *, owner: str
) -> None:
    """Write each attempt's ``(pid, output so far)`` into its row, if it still runs here."""
    if not attempts:
        return
    rows = [
        (pid, output[-LIVE_CHARS:] or None, job_id, to_epoch_ms(scheduled_for), attempt, owner)
        for (job_id, scheduled_for, attempt), (pid, output) in attempts.items()
    ]
    with store._writing(notify=False) as conn:
        for row in rows:
            conn.execute(
                "UPDATE runs SET pid = ?, output = ? WHERE job_id = ? AND scheduled_for = ?"
                " AND attempt = ? AND owner = ? AND state = 'running'",
                row,
            )


def live_runs(store: SQLJobStore) -> list[LiveRun]:
    """The attempts running now (on a shared store, those whose lease holds), oldest first.
    The caller decides whether a state file's 'running' rows are alive at all."""
    with store._reading() as conn:
        rows = conn.execute(
            "SELECT job_id, scheduled_for, attempt, started_at, pid, output, owner, reason"
            " FROM runs WHERE state = 'running'"
            " AND (lease_expires_at IS NULL OR lease_expires_at > now_ms())"
            " ORDER BY coalesce(started_at, scheduled_for), run_id"
        ).fetchall()
    return [
        LiveRun(str(job_id), from_epoch_ms(int(scheduled)), int(attempt),
                None if started is None else from_epoch_ms(int(started)),
                None if pid is None else int(pid), output or "", owner, str(reason))
        for job_id, scheduled, attempt, started, pid, output, owner, reason in rows
    ]
