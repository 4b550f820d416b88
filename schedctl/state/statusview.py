"""What ``schedctl status`` shows of a state store: who runs it, its jobs counted by state,
the day's failures, and a shared store's nodes. Apart from :mod:`schedctl.state.views`,
so that ``list`` never builds these classes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.history import REPLACED, RunHistory
from schedctl.state.runlock import holder_pid
from schedctl.state.stores import is_shared
from schedctl.state.views import JobView, job_views


@dataclass(frozen=True)
class StatusView:
    state_path: str
    running: bool
    pid: int | None
    hostname: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    jobfile: str | None
    jobs: dict[str, int]
    failures_24h: int
    nodes: list[NodeView] | None = None  # a shared store's nodes; None for a state file
    replaced_24h: int = 0  # runs stopped by overlap: replace; not failures

    def to_json(self) -> dict[str, Any]:
        data = {
            "state": self.state_path, "exists": True, "running": self.running, "pid": self.pid,
            "hostname": self.hostname, "started_at": iso(self.started_at),
            "heartbeat_at": iso(self.heartbeat_at), "jobfile": self.jobfile, "jobs": self.jobs,
            "failures_24h": self.failures_24h, "replaced_24h": self.replaced_24h,
        }
        if self.nodes is not None:
            data["nodes"] = [node.to_json() for node in self.nodes]
        return data


@dataclass(frozen=True)
class NodeView:
    """One node of a shared store, as ``status`` shows it."""

    node: str
    alive: bool
    hostname: str | None
    pid: int | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    stopped_at: datetime | None
    jobfile: str | None
    jobfile_digest: str | None
    jobfile_differs: bool  # from the jobfile the store's jobs came from

    def to_json(self) -> dict[str, Any]:
        return {key: iso(value) if isinstance(value, datetime) else value
                for key, value in self.__dict__.items()}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


#: Every state a job can be in, as ``status`` counts them: the buckets add up to the total.
JOB_STATES = ("scheduled", "paused", "running", "at boot")


def status_view(store: SQLJobStore, history: RunHistory, now: datetime) -> StatusView:
    if is_shared(store):
        return _cluster_status(store, history, now)
    pid = holder_pid(store.location)
    presence = history.presence()
    counts = _counts(job_views(store, history, recent=0))
    return StatusView(
        state_path=store.location, running=pid is not None,
        pid=(pid if pid > 0 else presence.pid if presence else None) if pid is not None else None,
        hostname=presence.hostname if presence else None,
        started_at=presence.started_at if presence and pid is not None else None,
        heartbeat_at=presence.heartbeat_at if presence else None,
        jobfile=presence.jobfile if presence else None,
        jobs=counts, failures_24h=history.failures_since(now - timedelta(hours=24)),
        replaced_24h=history.count_since((REPLACED,), now - timedelta(hours=24)),
    )


def _counts(views: list[JobView]) -> dict[str, int]:
    counts = {"total": len(views)}
    for name in JOB_STATES:
        counts[name.replace(" ", "_")] = sum(1 for view in views if view.state == name)
    return counts


def _cluster_status(store: Any, history: RunHistory, now: datetime) -> StatusView:
    """A shared store runs while any node is alive; each node is listed."""
    digest = store.get_setting("jobfile_digest")
    nodes = [
        NodeView(row.node_id, row.alive, row.hostname, row.pid, row.started_at, row.heartbeat_at,
                 row.stopped_at, row.jobfile, row.jobfile_hash,
                 row.alive and digest is not None and row.jobfile_hash != digest)
        for row in store.nodes()
    ]
    beats = [node.heartbeat_at for node in nodes if node.heartbeat_at]
    return StatusView(
        state_path=store.location, running=any(node.alive for node in nodes), pid=None,
        hostname=None, started_at=None, heartbeat_at=max(beats, default=None),
        jobfile=store.get_setting("jobfile_path"), jobs=_counts(job_views(store, history, recent=0)),
        failures_24h=history.failures_since(now - timedelta(hours=24)), nodes=nodes,
        replaced_24h=history.count_since((REPLACED,), now - timedelta(hours=24)),
    )

