"""The job-store contract: one suite, run against every store (memory, SQLite).

Times are whole seconds, which every store keeps exactly (SQLite keeps
milliseconds; see test_sqlite_store.py for sub-millisecond rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from schedctl.errors import ConflictingIdError, JobLookupError, StaleJobError
from schedctl.job import Job
from schedctl.jobstores._sqllisting import JobListing, listing_of
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.base import BaseJobStore
from schedctl.jobstores.memory import MemoryJobStore
from schedctl.jobstores.postgresql import PostgreSQLJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.triggers.interval import IntervalTrigger
from tests.storehelpers import T0, Plan, make_job, start, step_plan


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _memory(tmp_path: Path) -> BaseJobStore:
    return MemoryJobStore()


def _sqlite(tmp_path: Path) -> BaseJobStore:
    return SQLiteJobStore(path=tmp_path / "state.db")


def _postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    # Driven by the tests' fixed times, as one scheduler with an injected clock drives it.
    return PostgreSQLJobStore(request.getfixturevalue("pg_url"), clock="scheduler")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseJobStore]:
    """An empty store, started as a scheduler would start it, under the alias 'default'."""
    if request.param == "postgresql":
        store = _postgresql(tmp_path, request)
    else:
        store = {"memory": _memory, "sqlite": _sqlite}[request.param](tmp_path)
    start(store)
    yield store
    store.shutdown()


def add(store: BaseJobStore, times: dict[str, float | None]) -> None:
    """Add one job per id; a None time makes the job paused."""
    for job_id, seconds in times.items():
        store.add_job(make_job(job_id, None if seconds is None else at(seconds)))


def ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


# -- adding and looking up --------------------------------------------------------------------


def test_add_job_sets_version_and_attaches(fresh_store: BaseJobStore) -> None:
    job = make_job("a", at(0), name="backup", args=[1, "x"], kwargs={"k": [True]})
    fresh_store.add_job(job)
    assert (job.version, job._jobstore_alias) == (1, "default")
    found = fresh_store.lookup_job("a")
    assert found is not None and found is not job
    assert (found.name, found.func_ref, found.args, found.kwargs) == (
        "backup", job.func_ref, (1, "x"), {"k": [True]})
    assert (found.trigger, found.next_run_time, found.version) == (job.trigger, at(0), 1)
    assert found._jobstore_alias == "default"


def test_lookup_of_unknown_id_is_none(fresh_store: BaseJobStore) -> None:
    assert fresh_store.lookup_job("nope") is None


def test_add_job_with_taken_id_conflicts_and_keeps_the_first(fresh_store: BaseJobStore) -> None:
    fresh_store.add_job(make_job("a", at(0), name="first"))
    with pytest.raises(ConflictingIdError, match="'a'"):
        fresh_store.add_job(make_job("a", at(5), name="second"))
    found = fresh_store.lookup_job("a")
    assert found is not None and (found.name, found.next_run_time) == ("first", at(0))


def test_returned_jobs_are_copies(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    found = fresh_store.lookup_job("a")
    assert found is not None
    found.meta["changed"] = True
    found.next_run_time = at(99)
    again = fresh_store.lookup_job("a")
    assert again is not None and (again.meta, again.next_run_time) == ({}, at(0))


@pytest.mark.parametrize("batch_ids, taken", [
    (["x", "a", "y"], "a"),
    (["x", "y", "x"], "x"),
], ids=["conflicts-with-stored", "duplicate-within-batch"])
def test_add_jobs_is_all_or_nothing(
    fresh_store: BaseJobStore, batch_ids: list[str], taken: str
) -> None:
    add(fresh_store, {"a": 0})
    with pytest.raises(ConflictingIdError, match=repr(taken)):
        fresh_store.add_jobs([make_job(job_id, at(1)) for job_id in batch_ids])
    assert ids(fresh_store.get_all_jobs()) == ["a"]


@pytest.mark.parametrize("batch_ids, taken", [
    (["x", "a", "y"], "a"),
    (["x", "y", "x"], "x"),
], ids=["conflicts-with-stored", "duplicate-within-batch"])
def test_add_jobs_from_a_generator_is_all_or_nothing(
    fresh_store: BaseJobStore, batch_ids: list[str], taken: str
) -> None:
    add(fresh_store, {"a": 0})
    with pytest.raises(ConflictingIdError, match=repr(taken)):
        fresh_store.add_jobs(make_job(job_id, at(1)) for job_id in batch_ids)
    assert ids(fresh_store.get_all_jobs()) == ["a"]


def test_add_jobs_from_a_generator_marks_each_job_stored(fresh_store: BaseJobStore) -> None:
    batch = [make_job(f"j{i}", at(i)) for i in range(3)]
    fresh_store.add_jobs(job for job in batch)
    assert [job.version for job in batch] == [1] * 3
    assert [job.pending for job in batch] == [False] * 3
    assert ids(fresh_store.get_all_jobs()) == ["j0", "j1", "j2"]


def test_add_jobs_stores_every_job(fresh_store: BaseJobStore) -> None:
    batch = [make_job(f"j{i}", at(i)) for i in range(5)]
    fresh_store.add_jobs(batch)
    assert [job.version for job in batch] == [1] * 5
    assert ids(fresh_store.get_all_jobs()) == ["j0", "j1", "j2", "j3", "j4"]


# -- updating and removing --------------------------------------------------------------------


def test_update_job_replaces_and_bumps_version(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    job = fresh_store.lookup_job("a")
    assert job is not None
    job.name, job.next_run_time = "renamed", at(30)
    fresh_store.update_job(job)
    assert job.version == 2
    found = fresh_store.lookup_job("a")
    assert found is not None and (found.name, found.next_run_time, found.version) == (
        "renamed", at(30), 2)


def test_update_job_can_pause(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    job = fresh_store.lookup_job("a")
    assert job is not None
    job.next_run_time = None
    fresh_store.update_job(job)
    assert fresh_store.get_next_run_time() is None
    assert fresh_store.get_due_jobs(at(1000)) == []


def test_update_with_stale_version_is_refused(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    mine, theirs = fresh_store.lookup_job("a"), fresh_store.lookup_job("a")
    assert mine is not None and theirs is not None
    theirs.name = "theirs"
    fresh_store.update_job(theirs)
    mine.name = "mine"
    with pytest.raises(StaleJobError, match="'a'"):
        fresh_store.update_job(mine)
    found = fresh_store.lookup_job("a")
    assert found is not None and (found.name, found.version) == ("theirs", 2)
    assert mine.version == 1


def test_update_of_missing_job_is_a_lookup_error(fresh_store: BaseJobStore) -> None:
    with pytest.raises(JobLookupError, match="'ghost'"):
        fresh_store.update_job(make_job("ghost", at(0)))


def test_remove_job(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0, "b": 1})
    fresh_store.remove_job("a")
    assert fresh_store.lookup_job("a") is None
    assert ids(fresh_store.get_all_jobs()) == ["b"]
    with pytest.raises(JobLookupError, match="'a'"):
        fresh_store.remove_job("a")


def test_remove_all_jobs(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0, "b": None})
    fresh_store.remove_all_jobs()
    assert fresh_store.get_all_jobs() == []
    assert fresh_store.get_next_run_time() is None


# -- reads in order ---------------------------------------------------------------------------

ORDER_CASES = {
    "by-time": ({"late": 20, "early": 10, "middle": 15}, ["early", "middle", "late"]),
    "ties-by-id": ({"b": 10, "c": 10, "a": 10}, ["a", "b", "c"]),
    "paused-last-by-id": ({"p2": None, "x": 50, "p1": None, "y": 5}, ["y", "x", "p1", "p2"]),
    "empty": ({}, []),
}


@pytest.mark.parametrize("times, expected", ORDER_CASES.values(), ids=ORDER_CASES.keys())
def test_get_all_jobs_order(
    fresh_store: BaseJobStore, times: dict[str, float | None], expected: list[str]
) -> None:
    add(fresh_store, times)
    assert ids(fresh_store.get_all_jobs()) == expected


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLJobStore]:
    """An empty SQL store (the ones that list jobs without decoding them), started."""
    store = _postgresql(tmp_path, request) if request.param == "postgresql" else _sqlite(tmp_path)
    start(store)
    yield store  # type: ignore[misc]
    store.shutdown()


SHOWN = ("description", "action", "kind", "env_names")


@pytest.mark.parametrize("times, expected", ORDER_CASES.values(), ids=ORDER_CASES.keys())
def test_list_jobs_order(
    sql_store: SQLJobStore, times: dict[str, float | None], expected: list[str]
) -> None:
    add(sql_store, times)
    assert [listing.id for listing in sql_store.list_jobs(SHOWN)] == expected


def test_a_listing_says_what_the_decoded_job_says(sql_store: SQLJobStore) -> None:
    """Read by the database's JSON functions or in Python, a listing holds the job's own
    trigger, executor, function and the meta keys asked for that are not null."""
    hourly = IntervalTrigger(hours=1, start_date=T0, timezone="Asia/Tokyo")
    sql_store.add_jobs([
        make_job("cmd", at(5), meta={"description": "ünïcode \u2028", "action": "echo hi",
                                     "kind": "command", "env_names": ["A", "B"], "other": 1}),
        make_job("argv", at(1), meta={"action": ["/bin/echo", "x"], "description": None,
                                      "kind": "command", "env_names": []}, trigger=hourly),
        make_job("bare", None, executor="other"),
        make_job("same", at(3), trigger=hourly),
    ])
    listings = sql_store.list_jobs(SHOWN)
    assert listings == [JobListing.of(job, SHOWN) for job in sql_store.get_all_jobs()]
    by_id = {listing.id: listing for listing in listings}
    assert by_id["argv"].meta == {"action": ["/bin/echo", "x"], "kind": "command",
                                  "env_names": []}
    assert by_id["cmd"].meta["description"] == "ünïcode \u2028" and "other" not in by_id["cmd"].meta
    assert (by_id["bare"].meta, by_id["bare"].executor, by_id["bare"].next_run_time) == (
        {}, "other", None)
    assert by_id["argv"].trigger is by_id["same"].trigger  # one schedule, one trigger
    assert by_id["argv"].trigger == hourly and by_id["argv"].next_run_time == at(1)


def test_sqlite_reads_a_listing_as_decoding_each_state_reads_it(tmp_path: Path) -> None:
    """The JSON functions' rows and the rows of an SQLite built without them (each state
    decoded in Python, as on every other store) give the same listings."""
    store = SQLiteJobStore(path=tmp_path / "state.db")
    hourly = IntervalTrigger(hours=1, start_date=T0, timezone="Asia/Tokyo")
    store.add_jobs([
        make_job("cmd", at(5), meta={"description": "ünïcode", "action": ["/bin/echo", "x"],
                                     "kind": "command", "env_names": ["A"]}, trigger=hourly),
        make_job("bare", None, executor="other"),
    ])
    with store._reading() as conn:
        by_sql = store._listing_rows(conn, SHOWN)
        by_python = SQLJobStore._listing_rows(store, conn, SHOWN)
    store.shutdown()
    listed = [listing_of(row, SHOWN, {}) for row in by_sql]
    assert listed == [listing_of(row, SHOWN, {}) for row in by_python]
    assert [listing.id for listing in listed if listing] == ["cmd", "bare"]


@pytest.mark.parametrize("state", ['{"version": 99}', "not json", '["a list"]',
                                   '{"version": 1, "trigger": {"type": "nope"}}'],
                         ids=["newer-version", "not-json", "not-an-object", "unknown-trigger"])
def test_a_row_that_cannot_be_loaded_is_left_out_of_a_listing(
    sql_store: SQLJobStore, state: str, caplog: pytest.LogCaptureFixture
) -> None:
    sql_store.add_jobs([make_job("good", at(1)), make_job("bad", at(0))])
    with sql_store._writing() as conn:
        conn.execute("UPDATE jobs SET state = ? WHERE id = 'bad'", (state,))
    assert [listing.id for listing in sql_store.list_jobs(SHOWN)] == ["good"]
    assert "Skipped 1 job(s) that cannot be loaded" in caplog.text
    assert "'bad' cannot be loaded" in caplog.text


DUE_CASES = {
    "before-any": (5, []),
    "exactly-at-first": (10, ["a"]),
    "between": (12, ["a", "b1", "b2"]),
    "all-unpaused": (1000, ["a", "b1", "b2", "c"]),
}


@pytest.mark.parametrize("now, expected", DUE_CASES.values(), ids=DUE_CASES.keys())
def test_get_due_jobs(fresh_store: BaseJobStore, now: float, expected: list[str]) -> None:
    add(fresh_store, {"c": 20, "b2": 11, "a": 10, "b1": 11, "paused": None})
    assert ids(fresh_store.get_due_jobs(at(now))) == expected


NEXT_CASES = {
    "empty": ({}, None),
    "earliest": ({"a": 30, "b": 10, "c": 20}, 10),
    "paused-ignored": ({"a": 30, "p": None}, 30),
    "all-paused": ({"p": None, "q": None}, None),
}


@pytest.mark.parametrize("times, expected", NEXT_CASES.values(), ids=NEXT_CASES.keys())
def test_get_next_run_time(
    fresh_store: BaseJobStore, times: dict[str, float | None], expected: float | None
) -> None:
    add(fresh_store, times)
    assert fresh_store.get_next_run_time() == (None if expected is None else at(expected))


# -- claiming due jobs -----------------------------------------------------------------------


def test_process_due_jobs_advances_and_removes_exhausted(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0, "b": 5, "last": 8, "future": 100, "paused": None})
    plan = step_plan(timedelta(seconds=60), last=at(60))
    claimed = fresh_store.process_due_jobs(at(10), plan)
    assert [(job.id, decision.next_run_time) for job, decision in claimed] == [
        ("a", at(60)), ("b", None), ("last", None)]
    # Claimed jobs are returned as they were read: their run is the old next run time.
    assert [(job.next_run_time, job.version) for job, _ in claimed] == [(at(0), 1), (at(5), 1),
                                                                         (at(8), 1)]
    stored = fresh_store.lookup_job("a")
    assert stored is not None and (stored.next_run_time, stored.version) == (at(60), 2)
    assert ids(fresh_store.get_all_jobs()) == ["a", "future", "paused"]
    assert fresh_store.process_due_jobs(at(10), plan) == []


def test_process_due_jobs_respects_limit_in_order(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {f"j{i}": 10 - i for i in range(6)})
    plan = step_plan(timedelta(seconds=1), last=at(0))  # every claim ends its job
    first = fresh_store.process_due_jobs(at(100), plan, limit=4)
    assert ids([job for job, _ in first]) == ["j5", "j4", "j3", "j2"]
    rest = fresh_store.process_due_jobs(at(100), plan, limit=4)
    assert ids([job for job, _ in rest]) == ["j1", "j0"]


def test_process_due_jobs_with_zero_limit_claims_nothing(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    assert fresh_store.process_due_jobs(at(10), step_plan(timedelta(1), at(0)), limit=0) == []
    assert ids(fresh_store.get_due_jobs(at(10))) == ["a"]


def test_failing_plan_changes_nothing(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0, "b": 1, "c": 2})
    seen: list[str] = []

    def plan(job: Job, now: datetime) -> Plan:
        seen.append(job.id)
        if job.id == "b":
            raise RuntimeError("trigger broke")
        return Plan(None)

    with pytest.raises(RuntimeError, match="trigger broke"):
        fresh_store.process_due_jobs(at(10), plan)
    assert seen[:2] == ["a", "b"]
    assert [(job.id, job.next_run_time, job.version) for job in fresh_store.get_all_jobs()] == [
        ("a", at(0), 1), ("b", at(1), 1), ("c", at(2), 1)]


def test_claim_makes_an_earlier_read_stale(fresh_store: BaseJobStore) -> None:
    add(fresh_store, {"a": 0})
    read_before = fresh_store.lookup_job("a")
    assert read_before is not None
    fresh_store.process_due_jobs(at(0), step_plan(timedelta(seconds=10), at(100)))
    with pytest.raises(StaleJobError):
        fresh_store.update_job(read_before)


VERSION_STEPS = {
    "add": ([], 1),
    "add-update": (["update"], 2),
    "add-claim": (["claim"], 2),
    "add-update-claim-update": (["update", "claim", "update"], 4),
}


@pytest.mark.parametrize("steps, expected", VERSION_STEPS.values(), ids=VERSION_STEPS.keys())
def test_every_write_bumps_the_version(
    fresh_store: BaseJobStore, steps: list[str], expected: int
) -> None:
    add(fresh_store, {"a": 0})
    for step in steps:
        if step == "update":
            job = fresh_store.lookup_job("a")
            assert job is not None
            fresh_store.update_job(job)
        else:
            due = fresh_store.get_next_run_time()
            assert due is not None
            fresh_store.process_due_jobs(due, step_plan(timedelta(seconds=10), at(1000)))
    found = fresh_store.lookup_job("a")
    assert found is not None and found.version == expected


def test_run_requests_are_taken_once_in_order(fresh_store: BaseJobStore) -> None:
    store = fresh_store
    store.add_job(make_job("a", T0))
    store.add_job(make_job("b", T0))
    store.request_run("b", T0)
    store.request_run("a", T0 + timedelta(seconds=1))
    assert store.take_run_requests() == [("b", T0), ("a", T0 + timedelta(seconds=1))]
    assert store.take_run_requests() == []


def test_run_request_for_unknown_job(fresh_store: BaseJobStore) -> None:
    store = fresh_store
    with pytest.raises(JobLookupError, match="'ghost'"):
        store.request_run("ghost", T0)


def test_a_job_copy_carries_every_slot_and_its_own_dicts() -> None:
    job = Job.__new__(Job)
    markers = {slot: object() for slot in Job.__slots__}
    markers["kwargs"], markers["meta"] = {"k": 1}, {"m": 2}
    for slot, marker in markers.items():
        setattr(job, slot, marker)
    clone = job.copy()
    for slot, marker in markers.items():
        if slot in ("kwargs", "meta"):
            assert getattr(clone, slot) == marker and getattr(clone, slot) is not marker
        else:
            assert getattr(clone, slot) is marker, slot
