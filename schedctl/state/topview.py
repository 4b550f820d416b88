"""One frame of ``schedctl top``: who runs the store, what runs now, what runs next, what
just ran, built from the views ``list`` shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schedctl.jobstores._sqllisting import JobListing
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.history import RunHistory, RunRecord
from schedctl.state.live import LiveRun, live_runs
from schedctl.state.statusview import iso
from schedctl.state.stores import is_shared
from schedctl.state.views import (
    SHOWN_META, JobView, _job_view, last_heartbeat, scheduler_running,
)


@dataclass(frozen=True)
class TopView:
    """``schedctl top``: who runs the store, what runs now, what runs next, what just ran."""

    state_path: str
    running: bool  # a scheduler (a node) runs the store
    heartbeat_at: datetime | None
    jobs: int
    runs: list[LiveRun]
    attempts: dict[str, int]  # job id -> attempts a run may take (retries + 1)
    upcoming: list[JobView]
    latest: list[RunRecord]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state_path, "running": self.running,
            "heartbeat_at": iso(self.heartbeat_at), "jobs": self.jobs,
            "runs": [dict(run.to_json(), attempts=self.attempts.get(run.job_id))
                     for run in self.runs],
            "upcoming": [view.to_json() for view in self.upcoming],
            "latest": [record.to_json() for record in self.latest],
        }


def top_view(store: SQLJobStore, history: RunHistory, *, upcoming: int = 10,
             latest: int = 10) -> TopView:
    """One frame of ``top``. Only the jobs shown are decoded, so a refresh a second stays
    cheap over thousands of jobs."""
    running = scheduler_running(store)
    runs = live_runs(store) if running else []
    with store._reading() as conn:
        (jobs,) = conn.execute("SELECT count(*) FROM jobs").fetchone()
        next_ids = [row[0] for row in conn.execute(
            "SELECT id FROM jobs WHERE next_run_time IS NOT NULL ORDER BY next_run_time, id"
            " LIMIT ?", (upcoming,)).fetchall()]
    shown = {run.job_id for run in runs} | set(next_ids)
    found = {job_id: store.lookup_job(job_id) for job_id in shown}
    last = history.last_runs()
    upcoming_views = [
        _job_view(JobListing.of(job, SHOWN_META), {run.job_id for run in runs},
                  last.get(job_id), is_shared(store))
        for job_id in next_ids if (job := found.get(job_id)) is not None
    ]
    attempts = {job_id: int(job.meta.get("retries", 0)) + 1
                for job_id, job in found.items() if job is not None}
    ended = [r for r in history.runs(limit=latest + len(runs)) if r.state != "running"]
    return TopView(
        state_path=store.location, running=running, heartbeat_at=last_heartbeat(store, history),
        jobs=int(jobs), runs=runs, attempts=attempts, upcoming=upcoming_views,
        latest=ended[:latest],
    )

