"""Many commands at once: 500 command jobs due in the same second, 20 workers.

How late does each command start, counted from the instant all are due? Three ways,
each in a fresh process:

- schedctl: ``schedctl run`` on a jobfile of 500 ``command: "true"`` jobs with one
  ``date:`` (the service as deployed: SQLite state, run history, logging, 20 workers).
  A run's start is its history row's ``finished_at - duration``, the instant the
  runner began to start the process.
- the limit: a plain pool of 20 threads (``concurrent.futures``) running
  ``subprocess.run(["/bin/sh", "-c", "true"])`` for each, all submitted at the due
  instant, no scheduler; a run's start is read just before ``subprocess.run``.
- APScheduler 3: 500 date jobs in a ``BackgroundScheduler`` (memory store, 20 threads),
  each running the same ``subprocess.run``; its start is read first thing in the job.

``true`` through ``/bin/sh -c`` is what a jobfile's ``command: "true"`` runs. Reported:
p50, p99 and max lateness, and schedctl's p99 over the limit's (goal: within 1.5×).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import probes
from bench.harness import Case, Results, Row, Size, Value, at_most, percentile
from bench.workloads._service import schedctl_command, stop_service

TITLE = "Many commands"
GOAL_RATIO = 1.5  # schedctl's p99 over the plain pool's
WORKERS = 20
#: jobs, seconds from start to the due instant (the service starts and syncs meanwhile)
_SIZES = {"full": (500, 6.0), "quick": (300, 6.0), "smoke": (20, 2.5)}
_SHELL_TRUE = ["/bin/sh", "-c", "true"]


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    jobs, lead = _SIZES[size.name]
    params = {"jobs": jobs, "lead": lead}
    out = [Case("many", "schedctl", "sqlite", "run", params, timeout=120),
           Case("many", "schedctl", "none", "pool", params, timeout=120)]
    if "apscheduler" in libs:
        out.append(Case("many", "apscheduler", "memory", "run", params, timeout=120))
    return out


def run(case: Case, workdir: str) -> dict[str, Any]:
    jobs, lead = case.params["jobs"], case.params["lead"]
    due = time.time() + lead
    if case.lib == "apscheduler":
        late = _apscheduler(jobs, due)
    elif case.name == "pool":
        late = _pool(jobs, due)
    else:
        late = _service(Path(workdir), jobs, due)
    late_ms = sorted(x * 1000 for x in late)
    return {
        "runs": len(late_ms),
        "missing": jobs - len(late_ms),
        "p50_ms": percentile(late_ms, 50) if late_ms else None,
        "p99_ms": percentile(late_ms, 99) if late_ms else None,
        "max_ms": late_ms[-1] if late_ms else None,
    }


def _pool(jobs: int, due: float) -> list[float]:
    def one(_: int) -> float:
        started = time.time()
        subprocess.run(_SHELL_TRUE, check=True)
        return started - due

    with ThreadPoolExecutor(WORKERS) as pool:
        time.sleep(max(0.0, due - time.time()))
        return list(pool.map(one, range(jobs)))


def _apscheduler(jobs: int, due: float) -> list[float]:
    from bench.sides import JobSpec, add_job, make_scheduler, make_store

    scheduler = make_scheduler("apscheduler", make_store("apscheduler", "memory"))
    scheduler.start()
    probes.expect(jobs)
    when = datetime.fromtimestamp(due, UTC)
    for i in range(jobs):
        add_job(scheduler, JobSpec(f"m{i}", "date", {"run_date": when}, func=probes.RUN_TRUE,
                                   args=(due,)))
    probes.done.wait(due - time.time() + 60)
    scheduler.shutdown(wait=False)
    return list(probes.lateness)


def _service(workdir: Path, jobs: int, due: float) -> list[float]:
    stamp = f"{os.getpid()}"
    jobfile, state = workdir / f"many-{stamp}.yaml", workdir / f"many-{stamp}.db"
    when = datetime.fromtimestamp(due, UTC).isoformat()
    lines = ["jobs:"]
    for i in range(jobs):
        lines += [f"  many{i:04d}:", '    command: "true"', f'    date: "{when}"']
    jobfile.write_text("\n".join(lines) + "\n")
    jobfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDCTL_", "NOTIFY_"))}
    env["XDG_STATE_HOME"] = str(workdir / "xdg-state")
    argv = [*schedctl_command(), "run", "--state", str(state), str(jobfile)]
    with open(workdir / f"many-{stamp}.log", "wb") as log:
        daemon = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=log, start_new_session=True)
    try:
        deadline = due + 60
        while time.time() < deadline and _finished(state) < jobs:
            if daemon.poll() is not None:
                raise RuntimeError(f"schedctl run exited with {daemon.returncode}")
            time.sleep(0.2)
        rows = _rows(state)
    finally:
        stop_service(daemon)
    return [(finished - duration * 1000) / 1000 - scheduled / 1000
            for scheduled, finished, duration in rows]


def _finished(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        return len(_rows(state))
    except sqlite3.Error:  # created but not set up yet
        return 0


def _rows(state: Path) -> list[tuple[int, int, float]]:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT scheduled_for, finished_at, duration FROM runs WHERE job_id LIKE 'many%'"
            " AND finished_at IS NOT NULL AND duration IS NOT NULL").fetchall()
    finally:
        conn.close()


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    jobs = next((r["runs"] + r["missing"] for r in results.reps("run", "schedctl", "sqlite")), None)
    label = f"{jobs:,} `true` jobs due at once, 20 workers" if jobs else "due at once"
    rows = []
    for metric in ("p50", "p99", "max"):
        ours = results.value("run", "schedctl", "sqlite", f"{metric}_ms")
        theirs = results.value("run", "apscheduler", "memory", f"{metric}_ms")
        limit = results.value("pool", "schedctl", "none", f"{metric}_ms")
        row = Row(TITLE, f"start lateness {metric}, {label}: schedctl run (APScheduler: "
                  "memory store, subprocess.run)", "ms", ours, theirs)
        rows.append(row)
        rows.append(Row(TITLE, f"start lateness {metric}, a plain 20-thread pool (the limit)",
                        "ms", limit, Value(None)))
    ours_p99 = results.median("run", "schedctl", "sqlite", "p99_ms")
    limit_p99 = results.median("pool", "schedctl", "none", "p99_ms")
    ratio = Value(None if not ours_p99 or not limit_p99 else ours_p99 / limit_p99)
    ratio_row = Row(TITLE, "p99 of schedctl run ÷ p99 of the plain pool", "x", ratio, Value(None),
                    goal=f"≤ {GOAL_RATIO:g}×")
    ratio_row.met = at_most(ratio, GOAL_RATIO)
    rows.append(ratio_row)
    return rows
