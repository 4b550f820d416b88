"""A node lost in the middle of a run: killed (fault table #3, #4) or frozen (#5).

Two nodes share the store with a short lease (L = 2 s: renewals and reaping every
L/3, the shim's margin 0.2 L). The run's command writes its own life, a line every
0.1 s (``harness.HEARTBEATS``), so when it really started and died is read from what
it wrote, not from the store.

* **kill -9**: the command dies at once (its shim reads end-of-file), the run becomes
  ``orphaned``; with ``on_orphan: rerun`` a survivor starts attempt 2 within L + L/3
  of the kill, after the first command died; with ``fail`` there is no attempt 2 and
  the job's next slot still fires.
* **SIGSTOP** for longer than the lease: the shim kills the command before the
  database can call the lease expired, a survivor takes over, and once thawed the node
  learns it was fenced and never writes its result over the survivor's.
* **the last run of a job** (a one-shot ``date:`` job, whose row goes once it fired):
  ``on_orphan: rerun`` still reruns it; shown on the reaper itself, two stores as nodes.
* **SIGSTOP inside a transaction** (the node's renewal committed by the server but not
  yet by the node): the row lock it holds must not keep the survivors from taking over.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from schedctl.jobstores.postgresql import PostgreSQLJobStore
from schedctl.jobstores.leases import ClaimRegistry, LeaseTerms
from schedctl.schedulers.planning import plan_runs
from schedctl.triggers.date import DateTrigger
from tests.cli.helpers import process_gone, wait_until
from tests.faults.cluster.harness import (
    Cluster,
    Life,
    Node,
    Run,
    connect,
    overlaps,
    read_lives,
    run_of,
    runs,
    sql,
    wall,
)
from tests.pgserver import PostgresServer
from tests.storehelpers import make_job

LEASE = 2.0
#: Past a bound, what a busy two-core machine may add: process starts, 50 ms polls.
SLACK = 1.0
TAKEOVER = LEASE + LEASE / 3 + SLACK


def job_file(jobfile, command: str, on_orphan: str, *, every: str = "1h") -> Path:
    """One job, ``long``, every ``every`` (first due then); ``run_now`` starts one sooner."""
    return jobfile(f"""
timezone: UTC
cluster: {{lease: {LEASE}s}}
jobs:
  long: {{command: '{command}', interval: {every}, on_orphan: {on_orphan}}}
""")


def run_now(schedctl, url: str) -> None:
    """Ask the nodes for a run of ``long`` now: once they are up, whenever that was."""
    result = schedctl("run-now", "long", "--state", url)
    assert result.returncode == 0, result.stderr


def first_run(cluster: Cluster, url: str, lives: Path) -> tuple[Run, Node, Life]:
    """Attempt 1 of ``long`` once its command is alive, and the node that runs it."""
    run = wait_until(lambda: run_of(url, "long", 1), what="the first run of long",
                     context=cluster.logs)
    life = wait_until(lambda: read_lives(lives).get(run.run_id),
                      what="the first command's start line", context=cluster.logs)
    return run, cluster.named(run.node), life


def lives_of(lives: Path, *run_ids: int) -> list[Life]:
    found = read_lives(lives)
    return [found[run_id] for run_id in run_ids]


# -- #3 and #4: kill -9 ----------------------------------------------------------------------------


def test_kill_9_mid_run_orphans_the_run_and_a_survivor_reruns_it(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, pg_url: str
) -> None:
    cluster.start(job_file(jobfile, heartbeats(2.5), "rerun"), pg_url, "n1", "n2")
    run_now(schedctl, pg_url)
    first, victim, life = first_run(cluster, pg_url, lives)
    killed = wall()
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: process_gone(life.pid), 1.0, what="the command to die with its node")
    died = wall() - killed

    second = wait_until(lambda: run_of(pg_url, "long", 2), TAKEOVER, context=cluster.logs,
                        what=f"attempt 2 within L + L/3 (+{SLACK}s) of the kill")
    assert run_of(pg_url, "long", 1).state == "orphaned"
    assert second.node != victim.name and second.scheduled_for == first.scheduled_for
    done = wait_until(lambda: run_of(pg_url, "long", 2, "success"), 10, context=cluster.logs,
                      what="attempt 2 to finish")
    old, new = lives_of(lives, first.run_id, done.run_id)
    print(f"\nkill -9: command gone within {died:.2f} s (last beat +{old.last - killed:.2f} s), "
          f"attempt 2 started +{new.first - killed:.2f} s after the kill")
    assert not old.ended and old.last <= killed + 0.5, "the command outlived its node"
    assert new.first - killed <= TAKEOVER
    assert not overlaps([old, new]), (old, new)
    assert new.ended
    assert len(runs(pg_url, "long")) == 2


def test_kill_9_mid_run_without_rerun_orphans_it_and_the_next_slot_fires(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, pg_url: str
) -> None:
    every = 4.0  # the first slot comes after the run below is orphaned
    cluster.start(job_file(jobfile, heartbeats(1.5), "fail", every=f"{every}s"), pg_url, "n1", "n2")
    run_now(schedctl, pg_url)
    first, victim, life = first_run(cluster, pg_url, lives)
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: process_gone(life.pid), 1.0, what="the command to die with its node")

    wait_until(lambda: run_of(pg_url, "long", 1, "orphaned"), TAKEOVER, context=cluster.logs,
               what="the run to be orphaned")
    nxt = wait_until(lambda: [r for r in runs(pg_url, "long") if r.run_id in read_lives(lives)
                              and r.scheduled_for > first.scheduled_for], 2 * every + SLACK,
                     what="the next slot to run", context=cluster.logs)[0]
    assert nxt.node != victim.name
    slot_rows = [(r.attempt, r.state) for r in runs(pg_url, "long")
                 if r.scheduled_for == first.scheduled_for]
    assert slot_rows == [(1, "orphaned")], "on_orphan: fail must not rerun"
    assert sorted(read_lives(lives)) == [first.run_id, nxt.run_id]


def test_the_last_run_of_a_job_is_rerun_too(pg_url: str) -> None:
    dead, survivor = node_store(pg_url, "dead/1"), node_store(pg_url, "alive/2")
    try:
        now = dead.db_now()
        dead.add_job(make_job("once", now, trigger=DateTrigger(now, timezone="UTC"),
                              meta={"on_orphan": "rerun"}))
        [(_, plan)] = dead.process_due_jobs(now, plan_runs)
        assert plan.run_times == [now] and dead.lookup_job("once") is None  # fired, and done
        # "dead" never renews: once its 1 s lease is over, the survivor's reaper orphans the run.
        reruns = []
        wait_until(lambda: reruns.extend(survivor.reap_expired()) or run_of(pg_url, "once", 1,
                   "orphaned"), 5, what="the run to be orphaned")
        assert [(r.job.id, r.claim.attempt) for r in reruns] == [("once", 2)]
    finally:
        dead.shutdown()
        survivor.shutdown()


def node_store(url: str, owner: str) -> PostgreSQLJobStore:
    """A store as a node holds it: its runs owned and leased (1 s), its own claims."""
    store = PostgreSQLJobStore(url)
    store.runs_owner, store.lease, store.claims = owner, LeaseTerms(1.0), ClaimRegistry()
    return store


# -- #5: a frozen node -----------------------------------------------------------------------------


def test_a_frozen_node_is_fenced_and_its_run_taken_over(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, pg_url: str
) -> None:
    cluster.start(job_file(jobfile, heartbeats(2.5), "rerun"), pg_url, "n1", "n2")
    run_now(schedctl, pg_url)
    first, victim, life = first_run(cluster, pg_url, lives)
    frozen = wall()
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: process_gone(life.pid), LEASE, what="the shim to kill the command")
        second = wait_until(lambda: run_of(pg_url, "long", 2), TAKEOVER, context=cluster.logs,
                            what="a survivor to take the run over")
        thawed = wall()
    finally:
        os.kill(victim.pid, signal.SIGCONT)
    assert second.node != victim.name
    victim.daemon.wait_for_log("not recorded", 10)  # the late result, fenced

    orphaned = run_of(pg_url, "long", 1)
    assert orphaned.state == "orphaned" and "stopped renewing" in orphaned.error
    rows = [(r.attempt, r.node) for r in runs(pg_url, "long")]
    assert rows == [(1, victim.name), (2, second.node)]
    new = wait_until(lambda: read_lives(lives).get(second.run_id), what="attempt 2's command")
    old = read_lives(lives)[first.run_id]
    print(f"\nfrozen {thawed - frozen:.2f} s: command killed +{old.last - frozen:.2f} s, lease "
          f"expired +{orphaned.lease_expires_at / 1000 - frozen:.2f} s, attempt 2 started "
          f"+{new.first - frozen:.2f} s")
    assert not old.ended
    assert old.last < orphaned.lease_expires_at / 1000, "the command outlived its lease"
    assert old.last <= frozen + LEASE * 0.8 + 0.3
    assert not overlaps([old, new]), (old, new)
    assert victim.daemon.alive()


def test_a_node_frozen_inside_a_transaction_does_not_block_the_takeover(
    cluster: Cluster, jobfile, schedctl, heartbeats, lives: Path, pg_url: str,
    postgres_server: PostgresServer,
) -> None:
    cluster.start(job_file(jobfile, heartbeats(2.5), "rerun"), pg_url, "n1", "n2")
    run_now(schedctl, pg_url)
    first, victim, life = first_run(cluster, pg_url, lives)
    # The victim's other write to the row (the command's pid, for top) goes first: held
    # by the lock below, it would keep the renewal, on the same connection, from being sent.
    wait_until(lambda: published(pg_url, first.run_id), what="the command's pid in its row",
               context=cluster.logs)
    # Hold the run's row: the victim's next renewal waits for it inside its transaction.
    with connect(pg_url) as blocker, blocker.transaction():
        blocker.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (first.run_id,))
        backend = wait_until(lambda: renewal_waiting(pg_url), what="the victim's renewal to wait",
                             context=cluster.logs)
        os.kill(victim.pid, signal.SIGSTOP)
    # Let go: the server runs the renewal, and the frozen node never commits it.
    try:
        wait_until(lambda: left_open(pg_url, backend, postgres_server.logfile),
                   what="the renewal to be left open", context=cluster.logs)
        wait_until(lambda: process_gone(life.pid), what="the command to end",
                   context=cluster.logs)
        assert not read_lives(lives)[first.run_id].ended, "the shim did not kill the command"
        wait_until(lambda: run_of(pg_url, "long", 2), context=cluster.logs,
                   what="a survivor to take the run over while the node stays frozen")
    finally:
        os.kill(victim.pid, signal.SIGCONT)


def published(url: str, run_id: int) -> bool:
    return bool(sql(url, "SELECT 1 FROM runs WHERE run_id = %s AND pid IS NOT NULL", run_id))


def renewal_waiting(url: str) -> int | None:
    """The server process of a renewal waiting on a lock, if there is one."""
    rows = sql(url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'UPDATE runs SET lease_expires_at%%'")
    return rows[0][0] if rows else None


def left_open(url: str, backend: int, server_log: str) -> bool:
    """Whether that server process sits idle in its transaction, or did until the server
    ended it for that (idle_in_transaction_session_timeout): a state that lasts only that
    long, which a poll on a loaded machine may miss, while the log line stays."""
    if sql(url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
                " AND state = 'idle in transaction'", backend):
        return True
    ended = f"[{backend}] FATAL:  terminating connection due to idle-in-transaction timeout"
    return ended in Path(server_log).read_text(errors="replace")
