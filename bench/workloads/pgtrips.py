"""PostgreSQL round trips per run: what one run costs the database, on a node.

``schedctl run --state postgresql://...`` on a throwaway server (``tests/pgserver.py``)
with 20 ``true`` jobs every second, leases and all. The server logs every statement
(``log_statement = 'all'``: each is a round trip, BEGIN and COMMIT included); over a
window after start-up, statements from the node divided by the runs that ended in it.
The node's own upkeep (lease renewals, heartbeats, reaping) is counted in, shared by
the runs. Goal: at most 3 (claim, start, finish). APScheduler 3 cannot share a
PostgreSQL store between nodes: no column.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, at_most
from bench.workloads._jobfiles import every_second

TITLE = "PostgreSQL"
GOAL_TRIPS = 3.0
ROOT = Path(__file__).resolve().parent.parent.parent
_SIZES = {"full": (20, 20.0), "quick": (20, 8.0), "smoke": (5, 3.0)}  # jobs, window s
_STATEMENT = re.compile(r"LOG:  (statement|execute)")


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    jobs, window = _SIZES[size.name]
    return [Case("pgtrips", "schedctl", "postgresql", "node", {"jobs": jobs, "window": window},
                 timeout=window + 180)]


def run(case: Case, workdir: str) -> dict[str, Any]:
    import psycopg

    sys.path.insert(0, str(ROOT))
    from tests.pgserver import PostgresServer

    jobs, window = case.params["jobs"], case.params["window"]
    work = Path(workdir)
    jobfile = every_second(work / f"pgtrips-{os.getpid()}.yaml", jobs, "p")
    with PostgresServer() as server:
        url = server.create_database("trips")
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute("ALTER DATABASE trips SET log_statement = 'all'")
        log = work / f"pgtrips-{os.getpid()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDCTL_", "NOTIFY_"))}
        env["XDG_STATE_HOME"] = str(work / "xdg-state")
        schedctl = str(Path(sys.executable).parent / "schedctl")
        with open(log, "wb") as out:
            node = subprocess.Popen([schedctl, "run", "--state", url, str(jobfile)], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        try:
            _wait_for_runs(url, jobs * 2, node)  # started, and past the first runs
            statements0, runs0 = _statements(server.logfile), _ended(url)
            time.sleep(window)
            statements1, runs1 = _statements(server.logfile), _ended(url)
        finally:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                node.wait(30)
    runs = runs1 - runs0
    # The reading of the runs count between the two log readings is a statement too.
    statements = statements1 - statements0 - 1
    return {"runs": runs, "statements": statements,
            "trips_per_run": statements / runs if runs else None}


def _statements(logfile: str) -> int:
    with open(logfile, errors="replace") as stream:
        return sum(1 for line in stream if _STATEMENT.search(line))


def _ended(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM schedctl.runs WHERE finished_at IS NOT NULL").fetchone()
        return int(row[0]) if row else 0


def _wait_for_runs(url: str, count: int, node: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if _ended(url) >= count:
                return
        except Exception:  # noqa: BLE001 - the schema is not there yet
            pass
        if node.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("schedctl run on PostgreSQL did not get going")
        time.sleep(0.2)


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    trips = results.value("node", "schedctl", "postgresql", "trips_per_run")
    row = Row(TITLE, "round trips per run on a node (20 `true` jobs every 1 s)", "trips",
              trips, Value(None), goal=f"≤ {GOAL_TRIPS:g} (claim, start, finish)")
    row.met = at_most(trips, GOAL_TRIPS)
    row.note = ("every statement the server logs, BEGIN and COMMIT included, over the runs "
                "that ended meanwhile; the node's lease renewals and heartbeats are counted in")
    return [row]
