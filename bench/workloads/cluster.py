"""Cluster claims: 10,000 jobs due at the same instant, claimed by 1, 2 or 4 nodes.

Each node is a process of its own (``python -m bench.child``, like every case)
running a real ``BackgroundScheduler`` on the shared store, with an executor
that only notes when each run reached it: the claim path is all that is
measured. schedctl's nodes claim the way ``schedctl run`` does, recording a run
row per firing (leased for 30 s on PostgreSQL), so a second firing of a slot
would show in the runs table as well as in the nodes' own counts; both are
checked.

Configurations: schedctl's PostgreSQL store on a throwaway server started for
the case (``tests/pgserver.py``) with 1, 2 and 4 nodes; its SQLite store with
1, 2 and 4 processes on one file (safe: every claim is a ``BEGIN IMMEDIATE``
transaction); APScheduler's SQLAlchemyJobStore on SQLite with 1 process only,
since APScheduler 3 cannot share a store (each process would run every job).

Every job is an hourly interval job due at the same instant, so each fires once
in the window. Throughput is firings per second from that instant to the last
claim; lateness is claim time minus due time, so with one backlog it says how
fast the backlog drains (p50 is about half the drain time).
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import statistics
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, percentile
from bench.sides import JOB_DEFAULTS, JobSpec, fill_store, make_job, make_store

TITLE = "Cluster"
NODES = (1, 2, 4)
LEASE_SECONDS = 30.0
#: jobs, cap on the drain in s, and node counts per store (a quick run checks that one
#: node and several both work; a smoke run, in the test suite, several nodes on each store)
_SIZES: dict[str, tuple[int, float, dict[str, tuple[int, ...]]]] = {
    "full": (10_000, 60.0, {"postgresql": NODES, "sqlite": NODES}),
    "quick": (1_000, 20.0, {"postgresql": (1, 4), "sqlite": (1, 4)}),
    "smoke": (200, 5.0, {"postgresql": (2,), "sqlite": (2,)}),
}
#: Rough seconds to store one job (not timed), and to start one node process.
_FILL_COST = {"postgresql": 2e-4, "sqlite": 1e-4}
_NODE_START_S = 0.4
_POLL_S = 0.02
_LABELS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    count, cap, nodes = _SIZES[size.name]
    params = {"count": count, "cap": cap}
    found = [
        Case("cluster", "schedctl", store, f"nodes{n}", dict(params, nodes=n), timeout=cap + 120)
        for store in ("postgresql", "sqlite")
        for n in nodes[store]
    ]
    if "apscheduler" in libs:
        found.append(Case("cluster", "apscheduler", "sqlite", "nodes1", dict(params, nodes=1),
                          timeout=cap + 120))
    return found


def run(case: Case, workdir: str) -> dict[str, Any]:
    if case.name == "node":
        return _node(case)
    if case.store == "postgresql":
        return _on_postgres(case, workdir)
    return _measure(case, workdir, lambda attempt: os.path.join(
        workdir, f"cluster-{case.lib}-{case.params['nodes']}-{os.getpid()}-{attempt}.db"))


# -- the coordinating process ------------------------------------------------------------------


def _on_postgres(case: Case, workdir: str) -> dict[str, Any]:
    from tests.pgserver import PostgresServer

    with PostgresServer() as server:
        return _measure(case, workdir, lambda attempt: server.create_database(f"bench{attempt}"))


def _measure(case: Case, workdir: str, target_for: Any) -> dict[str, Any]:
    """Fill a fresh store, start the nodes, collect; again with more head start if the
    filling or a node's start-up overran the due time."""
    count, nodes = case.params["count"], case.params["nodes"]
    head_start = 0.6 + _FILL_COST[case.store] * count + _NODE_START_S * nodes
    for attempt in range(3):
        result = _attempt(case, workdir, target_for(attempt), head_start)
        if not result.pop("overran"):
            result.update(attempt=attempt + 1, head_start_s=round(head_start, 2))
            return result
        head_start *= 2
    return {"error": f"the nodes were not ready within a {head_start / 2:.1f} s head start"}


def _attempt(case: Case, workdir: str, target: str, head_start: float) -> dict[str, Any]:
    count, nodes, cap = case.params["count"], case.params["nodes"], case.params["cap"]
    due = time.time() + head_start
    _fill(case.lib, case.store, target, count, due)
    if time.time() > due - 0.2:
        return {"overran": True}
    stop_file = os.path.join(workdir, f"stop-{uuid.uuid4().hex}")
    node_cases = [
        Case("cluster", case.lib, case.store, "node", timeout=head_start + cap + 60, params={
            "node": f"n{i + 1}", "target": target, "due": due, "count": count, "cap": cap,
            "stop_file": stop_file, "alone": nodes == 1})
        for i in range(nodes)
    ]
    from bench.run import _collect, _spawn  # the runner's own child processes

    procs = [(c, _spawn(c, Path(workdir))) for c in node_cases]
    if nodes > 1:  # a node alone stops once it has claimed every job
        _wait_all_claimed(case.store, target, due, cap)
        with open(stop_file, "w"):
            pass
    reports = [_collect(c, proc) for c, proc in procs]
    if nodes > 1:
        os.unlink(stop_file)
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        return {"overran": False, "error": errors[0]}
    if any(r["ready_at"] > due - 0.05 for r in reports):
        return {"overran": True}
    return {"overran": False, **_summary(case, target, due, reports)}


def _fill(lib: str, store: str, target: str, count: int, due: float) -> None:
    when = datetime.fromtimestamp(due, UTC)
    specs = [JobSpec(f"c{i:05d}", "interval", {"hours": 1, "start_date": when}, next_run_time=when)
             for i in range(count)]
    if store == "sqlite":
        fill_store(lib, store, specs, target)
        return
    from schedctl.jobstores.postgresql import PostgreSQLJobStore

    shared = PostgreSQLJobStore(target)
    shared.add_jobs([make_job(lib, spec) for spec in specs])
    shared.shutdown()


def _wait_all_claimed(store: str, target: str, due: float, cap: float) -> None:
    """Until no job is left due at ``due`` (every one claimed by some node), or the cap;
    on one connection, so the polling costs the server next to nothing."""
    # Next run times are stored in ms, rounded up; a claimed job's next is an hour on.
    limit = int(due * 1000) + 60_000
    conn = _connect(store, target)
    jobs = "schedctl.jobs" if store == "postgresql" else "jobs"
    mark = "%s" if store == "postgresql" else "?"
    sql = f"SELECT count(*) FROM {jobs} WHERE next_run_time < {mark}"
    try:
        deadline = due + cap
        while time.time() < deadline and conn.execute(sql, (limit,)).fetchone()[0]:
            time.sleep(_POLL_S)
    finally:
        conn.close()


def _summary(case: Case, target: str, due: float, reports: list[dict[str, Any]]) -> dict[str, Any]:
    count = case.params["count"]
    slots = Counter(key for r in reports for key in r["slots"])
    late_ms = sorted(ms for r in reports for ms in r["late_ms"])
    claims = sum(r["claims"] for r in reports)
    drain = max(r["last"] for r in reports if r["claims"]) - due if claims else None
    result: dict[str, Any] = {
        "claims": claims,
        "missing": count - len(slots),
        "duplicates": sum(n - 1 for n in slots.values() if n > 1),
        "capped": any(r["capped"] for r in reports),
        "per_node": [r["claims"] for r in reports],
        "drain_s": drain,
        "claims_per_s": claims / drain if drain else None,
        "p50_ms": percentile(late_ms, 50) if late_ms else None,
        "p99_ms": percentile(late_ms, 99) if late_ms else None,
        "max_ms": late_ms[-1] if late_ms else None,
        "ready_before_due_s": min(due - r["ready_at"] for r in reports),
    }
    if case.lib == "schedctl":
        result.update(_store_runs(case.store, target))
    return result


def _store_runs(store: str, target: str) -> dict[str, int]:
    """The store's own record: run rows, and (job, slot) pairs with more than one."""
    runs = "schedctl.runs" if store == "postgresql" else "runs"
    slots, extra = _query_one(store, target, (
        f"SELECT count(*), coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {runs}"
        " WHERE reason = 'schedule' AND state <> 'skipped' GROUP BY job_id, scheduled_for) t"))
    (rows,) = _query_one(store, target, f"SELECT count(*) FROM {runs}")
    return {"store_run_rows": int(rows), "store_slots": int(slots), "store_duplicates": int(extra)}


def _connect(store: str, target: str) -> Any:
    """A plain connection for reading what the nodes left (SQLite: read-only)."""
    if store == "postgresql":
        import psycopg

        return psycopg.connect(target, autocommit=True)
    return sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=10)


def _query_one(store: str, target: str, sql: str) -> Any:
    conn = _connect(store, target)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


# -- one node ----------------------------------------------------------------------------------


class ClaimLog:
    """What the no-op executor saw: per run, its slot and how late it reached the executor."""

    def __init__(self, count: int, alone: bool) -> None:
        self.slots: list[str] = []
        self.late_ms: list[float] = []
        self.last = 0.0
        self._lock = threading.Lock()
        self._target = count if alone else 0
        self.done = threading.Event()

    def add(self, job_id: str, run_times: list[datetime]) -> None:
        now = time.time()
        with self._lock:
            self.last = now
            for run_time in run_times:
                self.slots.append(f"{job_id}@{round(run_time.timestamp() * 1000)}")
                self.late_ms.append((now - run_time.timestamp()) * 1000)
            if self._target and len(self.slots) >= self._target:
                self.done.set()


def _node(case: Case) -> dict[str, Any]:
    p = case.params
    log = ClaimLog(p["count"], p["alone"])
    store = _node_store(case.lib, case.store, p["target"], p["node"])
    scheduler = _scheduler(case.lib, store, log)
    scheduler.start()
    ready_at = time.time()
    deadline = p["due"] + p["cap"]
    while not (log.done.is_set() or os.path.exists(p["stop_file"])) and time.time() < deadline:
        log.done.wait(_POLL_S)
    capped = time.time() >= deadline
    scheduler.shutdown(wait=False)
    return {
        "ready_at": ready_at, "claims": len(log.slots), "slots": log.slots,
        "late_ms": log.late_ms, "last": log.last, "capped": capped,
    }


def _node_store(lib: str, store: str, target: str, node: str) -> Any:
    """The store as ``schedctl run`` opens it: claims record run rows owned by this node."""
    if lib == "apscheduler":
        return make_store(lib, "sqlite", target)
    if store == "sqlite":
        opened = make_store(lib, "sqlite", target)
    else:
        from schedctl.jobstores.postgresql import PostgreSQLJobStore
        from schedctl.jobstores.leases import LeaseTerms

        opened = PostgreSQLJobStore(target)
        opened.lease = LeaseTerms(LEASE_SECONDS)
    opened.runs_owner = f"{node}/{uuid.uuid4().hex[:12]}"
    return opened


def _scheduler(lib: str, store: Any, log: ClaimLog) -> Any:
    if lib == "schedctl":
        from schedctl.schedulers.background import BackgroundScheduler

        cls: Any = BackgroundScheduler
    else:
        cls = importlib.import_module("apscheduler.schedulers.background").BackgroundScheduler
    return cls(jobstores={"default": store}, executors={"default": _executor(lib, log)},
               job_defaults=dict(JOB_DEFAULTS), timezone=UTC)


def _executor(lib: str, log: ClaimLog) -> Any:
    """A no-op executor: notes the claim and ends the run at once, nothing is called."""
    base: Any = importlib.import_module(
        "schedctl.executors.base" if lib == "schedctl" else "apscheduler.executors.base"
    ).BaseExecutor

    class NoteExecutor(base):
        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            log.add(job.id, list(run_times))
            self._run_job_success(job.id, [])

    return NoteExecutor()


# -- the table ---------------------------------------------------------------------------------


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    aps = {m: results.value("nodes1", "apscheduler", "sqlite", m)
           for m in ("claims_per_s", "p50_ms", "p99_ms")}
    single = {m: results.value("nodes1", "schedctl", "sqlite", m) for m in aps}
    rows = []
    for store in ("postgresql", "sqlite"):
        for nodes in NODES:
            name = f"nodes{nodes}"
            if not results.reps(name, "schedctl", store):
                continue
            who = f"{nodes} node{'s' * (nodes > 1)}" if store == "postgresql" else (
                f"{nodes} process{'es' * (nodes > 1)}")
            for metric, label, unit in (("claims_per_s", "firings/s", "runs/s"),
                                        ("p50_ms", "lateness p50", "ms"),
                                        ("p99_ms", "lateness p99", "ms")):
                ours = results.value(name, "schedctl", store, metric)
                row = Row(TITLE, f"{label}, {_LABELS[store]}, {who}", unit, ours, aps[metric])
                if metric == "claims_per_s":
                    row.note = _throughput_note(results, store, nodes, single[metric])
                rows.append(row)
    rows.append(_duplicates_row(results))
    if "apscheduler" in libs:
        rows[0].note = (rows[0].note + "; " if rows[0].note else "") + (
            "APScheduler column: its SQLAlchemyJobStore on SQLite, 1 process, in every row "
            "(APScheduler 3 cannot share a store between processes: each would run every job)")
    return rows


def _throughput_note(results: Results, store: str, nodes: int, single: Value) -> str:
    """How the claims were shared out, and PostgreSQL against SQLite."""
    name = f"nodes{nodes}"
    parts = []
    shares = [max(r["per_node"]) / r["claims"] for r in results.reps(name, "schedctl", store)
              if r.get("claims")]
    if nodes > 1 and shares:
        parts.append(f"busiest {'node' if store == 'postgresql' else 'process'} claimed "
                     f"{statistics.median(shares):.0%} (median)")
    ours = results.value(name, "schedctl", store, "claims_per_s").number
    if store == "postgresql" and ours is not None:
        same = results.value(name, "schedctl", "sqlite", "claims_per_s")
        others = [("SQLite, 1 process", single)]
        if nodes > 1:
            others.insert(0, (f"SQLite, {nodes} processes", same))
        parts += [f"{ours / other.number:.2f}× {what}" for what, other in others if other.number]
    return "; ".join(parts)


def _duplicates_row(results: Results) -> Row:
    """Slots fired twice, by the nodes' counts and by the runs tables, over every case."""
    counted = [
        r.get(key) or 0
        for reps in results.data.values()
        for r in reps
        if "error" not in r
        for key in ("duplicates", "store_duplicates")
    ]
    missing = [r.get("missing") or 0 for reps in results.data.values() for r in reps
               if "error" not in r]
    total = float(sum(counted)) if counted else None
    row = Row(TITLE, "slots fired twice (all cases; nodes' counts and runs tables)", "runs",
              Value(total), Value(None))
    row.goal = "0"
    row.met = None if total is None else total == 0
    if missing and any(missing):
        row.note = f"{sum(missing)} slot(s) never fired before the cap"
    return row

