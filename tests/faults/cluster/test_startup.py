"""Nodes starting together: migrations, the first claims, and a node name taken twice.

* **Migrations** (fault table #1): processes opening one empty database at the same
  instant all succeed; the DDL is serialised by an advisory lock, so none trips over
  another's half-made catalog rows.
* **Claims** (#2): four nodes started together on twenty jobs due every second fire
  each (job, slot) exactly once, by the run rows and by what the commands themselves
  wrote, with no slot skipped once every node is up, and every node takes a share.
* **A node name taken twice** (#13): the second process refuses to start with one line
  that names the node; once the first stops cleanly, the name is free.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from schedctl.clock import SystemClock
from schedctl.jobstores._pg_schema import MIGRATIONS
from tests.cli.helpers import as_json, wait_until
from tests.faults.cluster.harness import (
    Cluster,
    by_job,
    db_now_ms,
    iso,
    read_ledger,
    runs,
    sql,
)
from tests.pgserver import PostgresServer

# -- #1 migrations ---------------------------------------------------------------------------------

OPENERS = 8
ROUNDS = 3

#: Imports first, then opens the store once per URL read: the imports (a few hundred ms)
#: are done before the go, so the opens really start together.
OPENER = """
import sys
from schedctl.jobstores.postgresql import PostgreSQLJobStore
print("ready", flush=True)
for url in sys.stdin:
    try:
        PostgreSQLJobStore(url.strip()).shutdown()
    except Exception as exc:
        print("failed:", type(exc).__name__, str(exc).replace("\\n", " "), flush=True)
    else:
        print("ok", flush=True)
"""

TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'schedctl'"


def test_processes_opening_an_empty_database_at_once_all_migrate_it(
    postgres_server: PostgresServer, cli_env: dict[str, str]
) -> None:
    names = [f"t_migrate_{uuid.uuid4().hex[:8]}" for _ in range(ROUNDS)]
    urls = [postgres_server.create_database(name) for name in names]
    openers = [subprocess.Popen([sys.executable, "-c", OPENER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=cli_env) for _ in range(OPENERS)]
    try:
        assert [p.stdout.readline().strip() for p in openers] == ["ready"] * OPENERS
        for url in urls:
            for opener in openers:  # the go: one line each, as close together as can be
                opener.stdin.write(url + "\n")
                opener.stdin.flush()
            answers = [p.stdout.readline().strip() for p in openers]
            assert answers == ["ok"] * OPENERS, f"{url}: {answers}"
            assert sql(url, "SELECT version FROM schedctl.schema_version") == [(len(MIGRATIONS),)]
            tables = {name for (name,) in sql(url, TABLES)}
            assert {"jobs", "runs", "nodes", "settings", "run_requests"} <= tables
    finally:
        for opener in openers:
            opener.stdin.close()
            opener.wait(10)
        for name in names:
            postgres_server.drop_database(name)


# -- #2 claims -------------------------------------------------------------------------------------

NODES = ("n1", "n2", "n3", "n4")
JOBS = 20
#: How long the four nodes run the jobs together.
RACE_SECONDS = 5.0


def race_jobfile(jobfile, ledger_line: str) -> Path:
    """Twenty jobs every second, a few ms apart (as the jobs of a real file would be):
    jobs due at the very same instant go to whichever node claims first, all of them."""
    base = SystemClock().now().replace(microsecond=0) + timedelta(seconds=1)
    jobs = "\n".join(
        f"  j{i:02}: {{interval: 1s, start_date: '{iso(base + timedelta(milliseconds=37 * i))}'}}"
        for i in range(JOBS))
    return jobfile(f"""
timezone: UTC
cluster: {{lease: 3s}}
defaults:
  command: '{ledger_line}'
jobs:
{jobs}
""")


def test_nodes_started_together_fire_each_slot_exactly_once(
    cluster: Cluster, jobfile, ledger_line: str, ledger: Path, pg_url: str
) -> None:
    path = race_jobfile(jobfile, ledger_line)
    cluster.start(path, pg_url, *NODES)
    all_up = db_now_ms(pg_url)
    wait_until(lambda: db_now_ms(pg_url) >= all_up + RACE_SECONDS * 1000, RACE_SECONDS + 5,
               what="the race to run its course")
    last_slot = db_now_ms(pg_url) - 1500  # slots up to here had time to start
    assert cluster.stop_all() == dict.fromkeys(NODES, 0), cluster.logs()

    rows = [r for r in runs(pg_url) if r.reason == "schedule"]
    starts = read_ledger(ledger)
    fired = Counter((r.job_id, r.scheduled_for) for r in rows)
    started = Counter(s.slot for s in starts)
    assert not {k: n for k, n in fired.items() if n > 1}, "a slot has two run rows"
    assert not {k: n for k, n in started.items() if n > 1}, "a slot's command started twice"
    assert Counter(r.state for r in rows) == {"success": len(rows)}, [
        r for r in rows if r.state != "success"]
    assert set(fired) == set(started), "run rows and real starts disagree"

    for job_id, slots in by_job(starts).items():
        steady = [t for t in slots if all_up <= t <= last_slot]
        assert len(steady) >= RACE_SECONDS - 2, f"{job_id}: {steady}"
        gaps = [(a, b) for a, b in itertools.pairwise(slots)
                if b - a != 1000 and a >= all_up - 1000]
        assert not gaps, f"{job_id}: slots skipped between {gaps}"
    assert len(by_job(starts)) == JOBS

    per_node = Counter(r.node for r in rows)
    print(f"\n{len(rows)} runs of {JOBS} jobs on {len(NODES)} nodes: "
          f"{dict(sorted(per_node.items()))}; "
          f"lateness p50 {percentile([s.lateness for s in starts], 50) * 1000:.0f} ms, "
          f"p99 {percentile([s.lateness for s in starts], 99) * 1000:.0f} ms")
    assert set(per_node) == set(NODES), f"some node ran nothing: {per_node}"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


# -- #13 a node name taken twice -------------------------------------------------------------------


def test_a_second_process_with_a_live_nodes_name_refuses_to_start(
    cluster: Cluster, jobfile, schedctl, pg_url: str
) -> None:
    path = jobfile("""
        timezone: UTC
        cluster: {lease: 2s}
        jobs:
          idle: {command: 'true', interval: 1h}
    """)
    [first] = cluster.start(path, pg_url, "web-1")
    second = cluster.launch(path, pg_url, "web-1")
    assert second.daemon.wait_exit(15) == 1
    lines = second.log().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.log(), second.log()
    assert "'web-1'" in lines[0] and f"pid {first.pid}" in lines[0], lines[0]
    assert first.daemon.alive()
    assert [(n["node"], n["alive"], n["pid"]) for n in as_json(
        schedctl("status", "--state", pg_url, "--json"))["nodes"]] == [("web-1", True, first.pid)]

    first.daemon.signal(signal.SIGTERM)
    assert first.daemon.wait_exit() == 0
    [third] = cluster.start(path, pg_url, "web-1")
    nodes = as_json(schedctl("status", "--state", pg_url, "--json"))["nodes"]
    assert [(n["node"], n["alive"], n["pid"]) for n in nodes] == [("web-1", True, third.pid)]
