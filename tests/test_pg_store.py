"""What the PostgreSQL store adds to the shared contract: the database's clock, run rows
claimed with the schedule, leases, fencing, reaping, nodes and LISTEN/NOTIFY.

Against a real server (the ``pg_url`` fixture); times are the database's, so jobs are
placed relative to its ``now()`` rather than to a fixed date.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from schedctl.errors import StoreError
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.jobstores._pg_leases import DuplicateNodeError
from schedctl.jobstores.postgresql import PostgreSQLJobStore
from schedctl.jobstores.leases import ClaimRegistry, LeaseTerms
from schedctl.triggers.interval import IntervalTrigger
from tests.storehelpers import make_job, start


@dataclass
class Plan:
    next_run_time: datetime | None
    run_times: list[datetime] = field(default_factory=list)


def run_each(job: Any, now: datetime) -> Plan:
    """Run the due slot, next one a minute later."""
    return Plan(job.next_run_time + timedelta(minutes=1), [job.next_run_time])


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True, options="-c search_path=schedctl") as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def node_store(url: str, owner: str, lease: float = 5.0) -> PostgreSQLJobStore:
    """A store as a running node holds it: its runs owned and leased, its own claims."""
    store = PostgreSQLJobStore(url)
    store.runs_owner, store.lease, store.claims = owner, LeaseTerms(lease), ClaimRegistry()
    return store


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgreSQLJobStore]:
    store = node_store(pg_url, "n1/a")
    yield store
    store.shutdown()


def interval_job(job_id: str, when: datetime, **options: Any) -> Any:
    trigger = IntervalTrigger(minutes=1, start_date=when, timezone="UTC")
    return make_job(job_id, when, trigger=trigger, **options)


# -- the database's clock ------------------------------------------------------------------


def test_due_ness_is_judged_by_the_database_clock_not_the_callers(store: PostgreSQLJobStore) -> None:
    now = store.db_now()
    store.add_job(interval_job("past", now - timedelta(seconds=1)))
    store.add_job(interval_job("future", now + timedelta(hours=1)))
    # A node whose clock is a day fast still claims only what is due by the database.
    claimed = store.process_due_jobs(now + timedelta(days=1), run_each)
    assert [job.id for job, _ in claimed] == ["past"]
    # And one a day slow is not held back.
    store.add_job(interval_job("late", now - timedelta(seconds=1)))
    assert [job.id for job, _ in store.process_due_jobs(now - timedelta(days=1), run_each)] == ["late"]


def test_next_run_time_is_given_in_the_callers_time(store: PostgreSQLJobStore) -> None:
    now = store.db_now()
    store.add_job(interval_job("a", now + timedelta(seconds=30)))
    skew = timedelta(minutes=10)
    store.process_due_jobs(now + skew, run_each)  # nothing due, but the offset is seen
    wake = store.get_next_run_time()
    assert wake is not None
    # This "node" runs 10 minutes fast: it must wake 10 minutes later by its own clock.
    assert abs((wake - (now + timedelta(seconds=30) + skew)).total_seconds()) < 1


# -- run rows claimed with the schedule --------------------------------------------------------


def test_a_claim_inserts_a_leased_run_row_and_registers_its_claim(store: PostgreSQLJobStore) -> None:
    now = store.db_now()
    store.add_job(interval_job("a", now - timedelta(seconds=2)))
    [(_, plan)] = store.process_due_jobs(now, run_each)
    [row] = sql(store.url, "SELECT state, owner, attempt, lease_expires_at - started_at FROM runs")
    assert row[:3] == ("running", "n1/a", 1)
    assert 4000 <= row[3] <= 6000  # leased for about 5 s from the claim
    claim = store.claims.latest("a", plan.run_times[0])
    assert claim is not None and claim.leased and claim.attempt == 1


def test_a_slot_that_already_has_a_run_row_is_not_run_again(store: PostgreSQLJobStore) -> None:
    now = store.db_now()
    slot = now - timedelta(seconds=2)
    store.add_job(interval_job("a", slot))
    sql(store.url, "INSERT INTO runs (job_id, scheduled_for, state, owner) VALUES (%s, %s, 'success', 'x/y')",
        "a", int(slot.timestamp() * 1000))
    [(_, plan)] = store.process_due_jobs(now, run_each)
    assert plan.run_times == []  # the UNIQUE slot is the backstop: nothing to run
    assert store.lookup_job("a").next_run_time > slot  # but the schedule moved on


def test_a_run_still_going_on_another_node_makes_the_new_one_skipped(pg_url: str) -> None:
    first, second = node_store(pg_url, "n1/a"), node_store(pg_url, "n2/b")
    try:
        now = first.db_now()
        first.add_job(interval_job("a", now - timedelta(seconds=2)))
        assert first.process_due_jobs(now, run_each)[0][1].run_times  # n1 runs the first slot
        sql(pg_url, "UPDATE jobs SET next_run_time = next_run_time - 59000")  # due again at once
        [(_, plan)] = second.process_due_jobs(now, run_each)
        assert plan.run_times == []
        states = sql(pg_url, "SELECT owner, state, error FROM runs ORDER BY run_id")
        assert [s[:2] for s in states] == [("n1/a", "running"), ("n2/b", "skipped")]
        assert "still going on n1/a" in states[1][2]
    finally:
        first.shutdown()
        second.shutdown()


def test_claims_are_registered_only_once_the_claim_commits(store: PostgreSQLJobStore) -> None:
    """A claim whose transaction fails at COMMIT holds nothing: no claim to renew or run."""
    sql(store.url, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                   " $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$")
    sql(store.url, "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON runs DEFERRABLE"
                   " INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()")
    now = store.db_now()
    store.add_job(interval_job("a", now - timedelta(seconds=2)))
    with pytest.raises(StoreError, match="refused at commit"):
        store.process_due_jobs(now, run_each)
    assert store.claims.all() == []
    assert store.lookup_job("a").next_run_time < now  # rolled back as a whole


# -- leases, fencing, reaping --------------------------------------------------------------------


def claim_one(store: PostgreSQLJobStore, job_id: str = "a", **options: Any) -> Any:
    now = store.db_now()
    store.add_job(interval_job(job_id, now - timedelta(seconds=2), **options))
    [(_, plan)] = store.process_due_jobs(now, run_each)
    claim = store.claims.latest(job_id, plan.run_times[0])
    assert claim is not None
    return claim


def expire(url: str, run_id: int) -> None:
    sql(url, "UPDATE runs SET lease_expires_at = now_ms() - 1 WHERE run_id = %s", run_id)


def test_renewal_extends_a_live_lease_and_fences_an_expired_one(store: PostgreSQLJobStore) -> None:
    live, lost = claim_one(store, "live"), claim_one(store, "lost")
    expire(store.url, lost.run_id)
    before = sql(store.url, "SELECT lease_expires_at FROM runs WHERE run_id = %s", live.run_id)[0][0]
    sent_before = live.sent
    renewed, fenced = store.renew_leases([live, lost])
    assert (renewed, fenced) == ([live], [lost])
    after = sql(store.url, "SELECT lease_expires_at FROM runs WHERE run_id = %s", live.run_id)[0][0]
    assert after >= before and live.sent >= sent_before


def test_another_owner_cannot_renew_or_complete_a_run(pg_url: str) -> None:
    owner, intruder = node_store(pg_url, "n1/a"), node_store(pg_url, "n1/b")  # same node, new process
    try:
        claim = claim_one(owner)
        assert intruder.renew_leases([claim]) == ([], [claim])
        written = RunHistory(intruder).finished(
            "a", claim.scheduled_for, RunOutcome("success", intruder.db_now()), owner="n1/b")
        assert not written
        assert sql(pg_url, "SELECT state FROM runs") == [("running",)]
    finally:
        owner.shutdown()
        intruder.shutdown()


def test_a_result_after_the_lease_expired_is_discarded(store: PostgreSQLJobStore) -> None:
    claim = claim_one(store)
    expire(store.url, claim.run_id)
    history = RunHistory(store)
    assert not history.finished("a", claim.scheduled_for, RunOutcome("success", store.db_now()),
                                owner="n1/a")
    assert sql(store.url, "SELECT state FROM runs") == [("running",)]  # left for the reaper
    assert store.claims.latest("a", claim.scheduled_for) is None


def test_a_result_within_the_lease_is_written(store: PostgreSQLJobStore) -> None:
    claim = claim_one(store)
    assert RunHistory(store).finished(
        "a", claim.scheduled_for, RunOutcome("success", store.db_now(), exit_code=0), owner="n1/a")
    assert sql(store.url, "SELECT state, exit_code FROM runs") == [("success", 0)]


@pytest.mark.parametrize(("policy", "retries", "rerun"), [
    ("fail", 3, False), ("rerun", 0, True), ("rerun", 2, True),
])
def test_the_reaper_orphans_expired_runs_and_reruns_by_policy(
    pg_url: str, policy: str, retries: int, rerun: bool
) -> None:
    dead, survivor = node_store(pg_url, "dead/1"), node_store(pg_url, "alive/2")
    try:
        claim = claim_one(dead, meta={"on_orphan": policy, "retries": retries})
        assert survivor.reap_expired() == []  # the lease still holds
        expire(pg_url, claim.run_id)
        reruns = survivor.reap_expired()
        rows = sql(pg_url, "SELECT attempt, state, owner FROM runs ORDER BY attempt")
        assert rows[0][:2] == (1, "orphaned")
        if rerun:
            [again] = reruns
            assert (again.job.id, again.claim.attempt) == ("a", 2)
            assert again.claim.scheduled_for == claim.scheduled_for
            assert rows[1] == (2, "running", "alive/2")
        else:
            assert reruns == [] and len(rows) == 1
    finally:
        dead.shutdown()
        survivor.shutdown()


def test_reruns_stop_when_the_attempts_are_spent(store: PostgreSQLJobStore) -> None:
    claim = claim_one(store, meta={"on_orphan": "rerun", "retries": 0})  # budget: 2 attempts
    expire(store.url, claim.run_id)
    [rerun] = store.reap_expired()
    expire(store.url, rerun.claim.run_id)
    assert store.reap_expired() == []
    assert sql(store.url, "SELECT attempt, state FROM runs ORDER BY attempt") == [
        (1, "orphaned"), (2, "orphaned")]


def test_a_late_result_leaves_the_rerun_the_same_node_claimed(store: PostgreSQLJobStore) -> None:
    """The node stalled (its database froze): its reaper orphaned the expired attempt and
    claimed the rerun before that attempt's late result was written. The result is not
    recorded, and must not take the rerun's claim with it: the rerun's command would start
    without its run id and lease, and its lease would no longer be renewed."""
    claim = claim_one(store, meta={"on_orphan": "rerun"})
    expire(store.url, claim.run_id)
    [rerun] = store.reap_expired()
    late = RunOutcome("failed", store.db_now(), signal=9, attempt=1)
    assert not RunHistory(store).finished("a", claim.scheduled_for, late, owner="n1/a")
    assert store.claims.latest("a", claim.scheduled_for) is rerun.claim
    assert store.claims.leased() == [rerun.claim]
    assert RunHistory(store).finished(
        "a", claim.scheduled_for, RunOutcome("success", store.db_now(), exit_code=0, attempt=2),
        owner="n1/a")
    assert store.claims.all() == []
    assert sql(store.url, "SELECT attempt, state FROM runs ORDER BY attempt") == [
        (1, "orphaned"), (2, "success")]


def test_a_restarted_node_expires_its_previous_processes_runs(pg_url: str) -> None:
    old, new, other = (node_store(pg_url, owner) for owner in ("n1/old", "n1/new", "n10/x"))
    try:
        claim_one(old, "a")
        claim_one(other, "b")  # 'n10' starts with 'n1' but is another node
        assert new.expire_previous_incarnations("n1") == 1
        assert [r.job.id for r in new.reap_expired()] == []
        assert sql(pg_url, "SELECT job_id, state FROM runs ORDER BY job_id") == [
            ("a", "orphaned"), ("b", "running")]
    finally:
        for s in (old, new, other):
            s.shutdown()


# -- nodes ---------------------------------------------------------------------------------------


def register(store: PostgreSQLJobStore, node: str, incarnation: str) -> None:
    # A host per incarnation, as for nodes on several hosts.
    store.register_node(node, incarnation, hostname=f"host-{incarnation}", pid=1,
                        jobfile="/j.yaml", jobfile_hash="abc")


def test_a_live_node_name_cannot_be_taken_twice(store: PostgreSQLJobStore) -> None:
    register(store, "web-1", "first")
    with pytest.raises(DuplicateNodeError, match="'web-1' is alive"):
        register(store, "web-1", "second")
    register(store, "web-2", "other")  # another name is fine
    assert [(n.node_id, n.alive) for n in store.nodes()] == [("web-1", True), ("web-2", True)]


def test_a_node_name_is_free_again_once_stopped_or_dead(store: PostgreSQLJobStore) -> None:
    register(store, "web-1", "first")
    store.node_stopped("web-1", "first")
    register(store, "web-1", "second")
    assert not store.heartbeat_node("web-1", "first")  # the old incarnation no longer owns it
    assert store.heartbeat_node("web-1", "second")
    # Dead: no heartbeat for three leases (5 s each here).
    sql(store.url, "UPDATE nodes SET heartbeat_at = now_ms() - 16000")
    assert [n.alive for n in store.nodes()] == [False]
    register(store, "web-1", "third")


def test_a_name_whose_process_died_on_this_host_is_taken_over_after_one_lease(
    store: PostgreSQLJobStore,
) -> None:
    """kill -9 and a restart by systemd: once the old pid is gone and its heartbeat a lease
    old (its shims past their deadlines), waiting 3 leases helps nobody."""
    sleeper = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        store.register_node("web-1", "alive", hostname="h", pid=sleeper.pid, jobfile="/j",
                            jobfile_hash="x")
        with pytest.raises(DuplicateNodeError):  # its process still runs
            store.register_node("web-1", "new", hostname="h", pid=1, jobfile="/j", jobfile_hash="x")
        with pytest.raises(DuplicateNodeError):  # a dead pid on another host proves nothing
            sql(store.url, "UPDATE nodes SET pid = %s", dead.pid)
            store.register_node("web-1", "new", hostname="other", pid=1, jobfile="/j",
                                jobfile_hash="x")
        with pytest.raises(DuplicateNodeError):  # dead, but it beat a moment ago: wait a lease
            store.register_node("web-1", "new", hostname="h", pid=2, jobfile="/j",
                                jobfile_hash="x")
        sql(store.url, "UPDATE nodes SET heartbeat_at = now_ms() - 6000")  # a lease (5 s) ago
        store.register_node("web-1", "new", hostname="h", pid=2, jobfile="/j", jobfile_hash="x")
        assert [(n.incarnation, n.pid) for n in store.nodes()] == [("new", 2)]
        assert not store.heartbeat_node("web-1", "alive")
    finally:
        sleeper.kill()
        sleeper.wait()


# -- wake-up -------------------------------------------------------------------------------------


def test_a_change_from_another_process_wakes_the_scheduler(pg_url: str) -> None:
    listening, writer = PostgreSQLJobStore(pg_url), PostgreSQLJobStore(pg_url)
    try:
        scheduler = start(listening)
        assert wait_for(lambda: listening.listening)
        scheduler.woken.clear()
        writer.add_job(interval_job("a", writer.db_now() + timedelta(hours=1)))
        assert scheduler.woken.wait(2), "NOTIFY did not wake the scheduler"
        assert listening.wait_cap() == 10.0  # healthy listener: the poll is only a net
    finally:
        listening.shutdown()
        writer.shutdown()


def test_a_lost_listen_connection_is_reopened_and_wakes_the_scheduler(pg_url: str) -> None:
    listening = PostgreSQLJobStore(pg_url)
    try:
        scheduler = start(listening)
        assert wait_for(lambda: listening.listening)
        scheduler.woken.clear()
        sql(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'schedctl-listen'")
        # Woken on reconnecting, so changes made meanwhile are read.
        assert scheduler.woken.wait(5)
        assert wait_for(lambda: listening.listening)
    finally:
        listening.shutdown()


def test_claims_are_not_announced(pg_url: str) -> None:
    """A claim must not wake every node: that herd is pure waste."""
    listening, claimer = PostgreSQLJobStore(pg_url), node_store(pg_url, "n1/a")
    try:
        claimer.add_job(interval_job("a", claimer.db_now() - timedelta(seconds=1)))
        scheduler = start(listening)
        assert wait_for(lambda: listening.listening)
        scheduler.woken.clear()
        assert claimer.process_due_jobs(claimer.db_now(), run_each)
        assert not scheduler.woken.wait(0.5)
    finally:
        listening.shutdown()
        claimer.shutdown()


# -- errors ------------------------------------------------------------------------------------


def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        PostgreSQLJobStore("postgresql://me:s3cret@127.0.0.1:1/nothing")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    PostgreSQLJobStore(pg_url).shutdown()
    sql(pg_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer schedctl"):
        PostgreSQLJobStore(pg_url)


def wait_for(condition: Any, timeout: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())
