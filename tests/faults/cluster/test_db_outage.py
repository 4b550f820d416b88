"""The database frozen for longer than the lease (fault table #6), or slow for a reaper.

Every PostgreSQL process is SIGSTOPped (``PostgresServer.pause``): connections stay
open and every query hangs, as in a partition or a stalled host. The server is the
test's own (``own_postgres``), since freezing the session's would stall other tests.

Two nodes run ``long`` (``on_orphan: rerun``, a 3 s command) and ``tick`` (every second,
the default ``on_orphan: fail``). While the database is frozen, the nodes cannot renew,
so the shims end the commands before the leases end by the database's clock. Once it
answers again, the expired runs are orphaned and ``long`` is rerun; no command of
``long`` overlaps another, and no tick slot starts twice.

A reaper whose statement waits on the database (here: on a table lock) for longer than
a lease must still hand its rerun a lease the rerun can live on. That test runs ``long``
alone: a node has one connection, and a write of ``tick``'s held by the lock would keep
the reaper's statement from ever being sent.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.cli.helpers import process_gone, wait_until
from tests.faults.cluster.harness import (
    Cluster,
    Run,
    connect,
    overlaps,
    read_ledger,
    read_lives,
    run_of,
    runs,
    sql,
    wall,
)
from tests.pgserver import PostgresServer

LEASE = 2.0
#: How long the database stays frozen: past the lease, and past a reaper's round after it.
FROZEN = LEASE + 1.5


def start_nodes(cluster: Cluster, url: str, jobfile, schedctl, heartbeats,
                ledger_line: str | None) -> Run:
    """Two nodes running ``tick`` (when its command is given) and one run of ``long``; that
    run, once its command is up."""
    tick = f"\n  tick: {{command: '{ledger_line}', interval: 1s}}" if ledger_line else ""
    path = jobfile(f"""
timezone: UTC
cluster: {{lease: {LEASE}s}}
jobs:
  long: {{command: '{heartbeats(3)}', interval: 1h, on_orphan: rerun}}{tick}
""")
    cluster.start(path, url, "n1", "n2")
    result = schedctl("run-now", "long", "--state", url)
    assert result.returncode == 0, result.stderr
    return wait_until(lambda: run_of(url, "long", 1), what="the first run of long",
                      context=cluster.logs)


def freeze(server: PostgresServer, seconds: float, *, meanwhile: Callable[[], object]) -> float:
    """Freeze the server for ``seconds`` (the scenario), checking ``meanwhile`` as it
    goes; returns when it was frozen (epoch s)."""
    frozen = wall()
    server.pause()
    try:
        meanwhile()
        wait_until(lambda: wall() >= frozen + seconds, seconds + 1, what="the outage to last")
    finally:
        server.resume()
    return frozen


def test_a_frozen_database_ends_the_commands_in_time_and_runs_are_orphaned_after(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, ledger: Path, ledger_line: str,
    own_postgres: PostgresServer,
) -> None:
    url = own_postgres.create_database("outage")
    run = start_nodes(cluster, url, jobfile, schedctl, heartbeats, ledger_line)
    life = wait_until(lambda: read_lives(lives).get(run.run_id), what="its command")
    frozen = freeze(own_postgres, FROZEN, meanwhile=lambda: wait_until(
        lambda: process_gone(life.pid), LEASE, what="the shim to end the command"))

    orphaned = wait_until(lambda: run_of(url, "long", 1, "orphaned"), LEASE + 2,
                          what="the run to be orphaned", context=cluster.logs)
    wait_until(lambda: run_of(url, "long", 2), LEASE + 2, what="attempt 2", context=cluster.logs)
    old = read_lives(lives)[run.run_id]
    print(f"\ndatabase frozen {FROZEN:.1f} s: command killed +{old.last - frozen:.2f} s, "
          f"lease expired +{orphaned.lease_expires_at / 1000 - frozen:.2f} s")
    assert not old.ended and old.last < orphaned.lease_expires_at / 1000
    assert not overlaps(read_lives(lives).values())

    after = wall()  # the ticks go on, each slot once
    wait_until(lambda: [s for s in read_ledger(ledger) if s.at > after],
               what="the ticks to go on", context=cluster.logs)
    assert cluster.stop_all() == {"n1": 0, "n2": 0}, cluster.logs()
    assert not overlaps(read_lives(lives).values())
    starts = Counter(s.slot for s in read_ledger(ledger))
    assert not [slot for slot, n in starts.items() if n > 1], "a tick slot started twice"
    assert [r for r in runs(url) if r.state == "running"] == [], "a run left running"
    # The holder learnt it was fenced: by its renewal, or by its late result.
    assert "lost the lease" in cluster.logs() or "not recorded" in cluster.logs()


def test_a_rerun_claimed_by_a_reaper_that_waited_on_the_database_really_runs(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, pg_url: str
) -> None:
    run = start_nodes(cluster, pg_url, jobfile, schedctl, heartbeats, None)
    life = wait_until(lambda: read_lives(lives).get(run.run_id), what="its command")
    victim = cluster.named(run.node)
    killed = wall()
    os.kill(victim.pid, signal.SIGKILL)  # the survivor's reaper will orphan and rerun it
    wait_until(lambda: process_gone(life.pid), what="the command to die with its node")
    assert not read_lives(lives)[run.run_id].ended, "the command outlived its node"
    # The database is slow for the survivor's reaper: its statement waits on a table lock
    # until the dead node's lease is over and a lease's worth of time has gone by.
    with connect(pg_url) as blocker, blocker.transaction():
        blocker.execute("LOCK TABLE runs IN SHARE MODE")
        wait_until(lambda: reaper_waiting(pg_url), what="the survivor's reaper to wait",
                   context=lambda: f"{activity(pg_url)}\n{cluster.logs()}")
        waiting = wall()
        wait_until(lambda: wall() >= max(waiting + LEASE, killed + LEASE + 0.2), LEASE + 1,
                   what="the slow spell to last")

    rerun = wait_until(lambda: run_of(pg_url, "long", 2), what="attempt 2", context=cluster.logs)
    wait_until(lambda: read_lives(lives).get(rerun.run_id), what="attempt 2's command",
               context=lambda: f"{runs(pg_url, 'long')}\n{cluster.logs()}")


def activity(url: str) -> str:
    """What each connection to the database is doing, for a failure's message."""
    rows = sql(url, "SELECT application_name, state, wait_event_type, left(query, 80)"
                    " FROM pg_stat_activity WHERE datname = current_database()")
    return "\n".join(map(repr, rows))


def reaper_waiting(url: str) -> bool:
    return bool(sql(url, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                         " AND query LIKE 'UPDATE runs SET state = ''orphaned''%%'"))
