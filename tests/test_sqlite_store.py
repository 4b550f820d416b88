"""What only the SQLite store promises: a private, inspectable file that survives restarts,
is shared safely by processes, wakes a sleeping scheduler, and fails in words."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schedctl.errors import ConflictingIdError, StoreError
from schedctl.job import Job
from schedctl.jobstores import _sqlite_schema
from schedctl.jobstores._sqlite_checkpoint import Checkpointer
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.timeutil import to_epoch_ms
from schedctl.triggers.date import DateTrigger
from tests.storehelpers import T0, FakeScheduler, Plan, make_job, noop, start, step_plan

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds an event may take; only ever reached when a test fails


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteJobStore]:
    """A store on a fresh file, used without a scheduler (as the CLI uses it)."""
    opened = SQLiteJobStore(path=db_path)
    yield opened
    opened.shutdown()


def raw_rows(path: Path, sql: str) -> list[tuple]:
    """Read the file as the sqlite3 shell would: no schedctl code involved."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- construction -----------------------------------------------------------------------------

LOCATION_CASES = {
    "relative-url": (lambda tmp: {"url": "sqlite:///data/state.db"}, "data/state.db"),
    "absolute-url": (lambda tmp: {"url": f"sqlite:///{tmp}/abs.db"}, "abs.db"),
    "relative-path": (lambda tmp: {"path": "rel.db"}, "rel.db"),
    "absolute-pathlike": (lambda tmp: {"path": tmp / "p.db"}, "p.db"),
}


@pytest.mark.parametrize("arguments, expected", LOCATION_CASES.values(), ids=LOCATION_CASES.keys())
def test_location_from_url_or_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments, expected: str
) -> None:
    """``sqlite:///x`` is relative to the working directory, ``sqlite:////x`` absolute."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    opened = SQLiteJobStore(**arguments(work))
    opened.shutdown()
    assert opened.path == str(work / expected) and Path(opened.path).is_file()


BAD_ARGUMENTS = {
    "neither": ({}, "url, path"),
    "both": ({"url": "sqlite:///a.db", "path": "b.db"}, "url, path"),
    "not-sqlite": ({"url": "postgresql://localhost/db"}, "url"),
    "no-path": ({"url": "sqlite:///"}, "url"),
    "memory": ({"url": "sqlite:///:memory:"}, "MemoryJobStore"),
    "poll-zero": ({"path": "x.db", "poll_interval": 0}, "poll_interval"),
    "poll-text": ({"path": "x.db", "poll_interval": "often"}, "poll_interval"),
}


@pytest.mark.parametrize("kwargs, named", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_name_the_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=named):
        SQLiteJobStore(**kwargs)


def test_poll_interval_accepts_config_text(db_path: Path) -> None:
    text: Any = "2.5"
    assert SQLiteJobStore(path=db_path, poll_interval=text).poll_interval == 2.5


def test_file_and_new_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "state.db"
    opened = SQLiteJobStore(path=path)
    start(opened)
    try:
        opened.add_job(make_job("a", T0))
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [
            tmp_path / "state", path.parent, path, Path(f"{path}-wal"), Path(f"{path}-shm"),
            Path(opened.wake_path)]}
        assert modes == {"state": 0o700, "nested": 0o700, "state.db": 0o600,
                         "state.db-wal": 0o600, "state.db-shm": 0o600, "state.db.wake": 0o600}
    finally:
        opened.shutdown()


def test_existing_file_mode_is_left_alone(db_path: Path) -> None:
    db_path.touch(mode=0o640)
    os.chmod(db_path, 0o640)
    SQLiteJobStore(path=db_path).shutdown()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o640


def test_connection_settings(store: SQLiteJobStore) -> None:
    with store._reading() as conn:
        settings = [conn.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")]
    assert settings == ["wal", 10_000, 1, 1]


# -- persistence and inspection -----------------------------------------------------------------


def test_jobs_survive_reopening(db_path: Path) -> None:
    once = DateTrigger(run_date=T0 + timedelta(hours=1), timezone="UTC")
    first = SQLiteJobStore(path=db_path)
    first.add_jobs([make_job("a", T0 + timedelta(seconds=5), args=[1]), make_job("p", None),
                    make_job("once", T0 + timedelta(hours=1), trigger=once)])
    job = first.lookup_job("a")
    assert job is not None
    first.update_job(job)
    first.shutdown()

    again = SQLiteJobStore(path=db_path)
    try:
        jobs = again.get_all_jobs()
        assert [(j.id, j.next_run_time, j.version, j.args) for j in jobs] == [
            ("a", T0 + timedelta(seconds=5), 2, (1,)),
            ("once", T0 + timedelta(hours=1), 1, ()),
            ("p", None, 1, ())]
        assert [j.trigger for j in jobs] == [make_job("x", None).trigger, once,
                                            make_job("x", None).trigger]
        assert again.get_next_run_time() == T0 + timedelta(seconds=5)
    finally:
        again.shutdown()


def test_rows_are_plain_json_and_integers(store: SQLiteJobStore, db_path: Path) -> None:
    store.add_job(make_job("a", T0, args=["x", 2], kwargs={"k": "é", "file": "\udcff.log"}))
    store.add_job(make_job("p", None))
    rows = raw_rows(db_path, "SELECT id, typeof(next_run_time), next_run_time, version,"
                             " typeof(state), state FROM jobs ORDER BY id")
    (a_id, a_type, a_next, a_version, a_state_type, a_state), paused = rows
    assert (a_id, a_type, a_next, a_version, a_state_type) == (
        "a", "integer", to_epoch_ms(T0), 1, "text")
    state = json.loads(a_state)
    assert (state["func"], state["args"], state["kwargs"]) == (
        make_job("a", T0).func_ref, ["x", 2], {"k": "é", "file": "\udcff.log"})
    assert state["trigger"]["type"] == "interval"
    assert paused[1:3] == ("null", None)
    found = store.lookup_job("a")
    assert found is not None and found.kwargs["file"] == "\udcff.log"  # lossless round trip
    column_types = {row[2] for row in raw_rows(db_path, "PRAGMA table_info(jobs)")}
    assert column_types == {"TEXT", "INTEGER"}  # no BLOB: nothing pickled


def test_schema_is_versioned(store: SQLiteJobStore, db_path: Path) -> None:
    assert raw_rows(db_path, "PRAGMA user_version") == [(len(_sqlite_schema.MIGRATIONS),)]
    plan = raw_rows(db_path, "EXPLAIN QUERY PLAN SELECT min(next_run_time) FROM jobs"
                             " WHERE next_run_time IS NOT NULL")
    assert "jobs_next_run_time" in plan[0][-1]


def test_sub_millisecond_times_round_up(store: SQLiteJobStore) -> None:
    """Never earlier than the real time: a job is not claimed early, nor a slot run twice."""
    store.add_job(make_job("a", T0 + timedelta(microseconds=1500)))
    assert store.get_next_run_time() == T0 + timedelta(milliseconds=2)
    assert store.get_due_jobs(T0 + timedelta(microseconds=1600)) == []
    assert len(store.get_due_jobs(T0 + timedelta(milliseconds=2))) == 1


UNSTORABLE = {
    "lambda": (lambda: Job(None, id="bad", func=lambda: None, next_run_time=T0,
                           trigger=make_job("t", None).trigger), "module-level function"),
    "object-arg": (lambda: make_job("bad", T0, args=[object()]), "JSON"),
    "nan-kwarg": (lambda: make_job("bad", T0, kwargs={"x": float("nan")}), "JSON"),
}


@pytest.mark.parametrize("build, message", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_job_is_refused_and_nothing_written(
    store: SQLiteJobStore, db_path: Path, build, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.add_job(build())
    with pytest.raises(ValueError, match=message):
        store.add_jobs([make_job("fine", T0), build()])
    assert raw_rows(db_path, "SELECT count(*) FROM jobs") == [(0,)]


def test_add_jobs_names_the_conflicting_id_mid_batch(store: SQLiteJobStore) -> None:
    store.add_job(make_job("j7", T0))
    with pytest.raises(ConflictingIdError, match="'j7'"):
        store.add_jobs([make_job(f"j{i}", T0) for i in range(20)])
    assert [job.id for job in store.get_all_jobs()] == ["j7"]


class _Tracked(Job):
    """A job a test can hold a weak reference to."""

    __slots__ = ("__weakref__",)


def test_add_jobs_keeps_no_job_of_a_generator(store: SQLiteJobStore) -> None:
    """A batch streams: by the time a job is made, those two before it are gone."""
    made: list[weakref.ref[Job]] = []
    kept_while_adding: list[str] = []

    def jobs() -> Iterator[Job]:
        for i in range(50):
            kept_while_adding.extend(ref().id for ref in made[:-2] if ref() is not None)
            job = _Tracked(None, id=f"j{i}", func=noop, trigger=DateTrigger(T0, "UTC"),
                           next_run_time=T0)
            made.append(weakref.ref(job))
            yield job

    store.add_jobs(jobs())
    assert kept_while_adding == []
    assert len(store.get_all_jobs()) == 50


def test_add_jobs_many_in_one_transaction(store: SQLiteJobStore) -> None:
    """Scale check: 20,000 jobs in one batch (the 100,000 figure is measured separately)."""
    batch = [make_job(f"job-{i:05d}", T0 + timedelta(seconds=i)) for i in range(20_000)]
    store.add_jobs(batch)
    jobs = store.get_all_jobs()
    assert len(jobs) == 20_000 and jobs[0].id == "job-00000" and jobs[-1].id == "job-19999"
    assert store.get_next_run_time() == T0


def test_unreadable_row_is_skipped_in_lists_and_paused_by_claims(
    store: SQLiteJobStore, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.add_jobs([make_job("good", T0), make_job("bad", T0 - timedelta(seconds=1))])
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE jobs SET state = '{\"version\": 99}' WHERE id = 'bad'")
    conn.commit()
    conn.close()
    assert [job.id for job in store.get_all_jobs()] == ["good"]
    with pytest.raises(StoreError, match="'bad' cannot be loaded"):
        store.lookup_job("bad")
    claimed = store.process_due_jobs(T0, step_plan(timedelta(seconds=60), T0 + timedelta(days=1)))
    assert [job.id for job, _ in claimed] == ["good"]
    assert raw_rows(db_path, "SELECT next_run_time FROM jobs WHERE id = 'bad'") == [(None,)]
    assert "paused it" in caplog.text


# -- bad files ----------------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)


def _truncated(path: Path) -> None:
    full = SQLiteJobStore(path=path)
    full.add_jobs([make_job(f"j{i}", T0, meta={"pad": "x" * 500}) for i in range(200)])
    full.shutdown()
    with open(path, "r+b") as f:
        f.truncate(6000)


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()


def _newer(path: Path) -> None:
    SQLiteJobStore(path=path).shutdown()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


BAD_FILES = {
    "garbage": (_garbage, "is not a schedctl state file \\(file is not a database\\)"),
    "truncated": (_truncated, "is damaged \\(database disk image is malformed\\)"),
    "foreign-database": (_foreign, "is not a schedctl state file"),
    "newer-schema": (_newer, "written by a newer schedctl"),
}


@pytest.mark.parametrize("spoil, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_state_file_is_a_store_error_naming_the_path(db_path: Path, spoil, message) -> None:
    spoil(db_path)
    with pytest.raises(StoreError, match=message) as info:
        opened = SQLiteJobStore(path=db_path)
        opened.get_all_jobs()  # a truncated file may only show when its pages are read
        opened.shutdown()
    assert str(db_path) in str(info.value)


def test_read_only_file_is_a_store_error(store: SQLiteJobStore, db_path: Path) -> None:
    store.shutdown()
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only files")
    os.chmod(db_path, 0o400)
    with pytest.raises(StoreError, match=str(db_path)):
        SQLiteJobStore(path=db_path).add_job(make_job("a", T0))


def test_full_disk_is_a_store_error_and_writes_nothing(store: SQLiteJobStore) -> None:
    store.add_job(make_job("a", T0))
    with store._reading() as conn:  # a file that may not grow behaves as a full disk
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [make_job(f"big{i}", T0, meta={"pad": "x" * 2000}) for i in range(50)]
    with pytest.raises(StoreError, match="disk is full"):
        store.add_jobs(big)
    assert [job.id for job in store.get_all_jobs()] == ["a"]


def test_a_later_migration_is_one_more_entry(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SQLiteJobStore(path=db_path, poll_interval=1).add_job(make_job("kept", T0))
    later = ("CREATE TABLE later (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL)",)
    known = len(_sqlite_schema.MIGRATIONS)
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", (*_sqlite_schema.MIGRATIONS, later))
    upgraded = SQLiteJobStore(path=db_path)
    try:
        assert raw_rows(db_path, "PRAGMA user_version") == [(known + 1,)]
        assert raw_rows(db_path, "SELECT name FROM sqlite_master WHERE name = 'later'") == [
            ("later",)]
        assert [job.id for job in upgraded.get_all_jobs()] == ["kept"]
    finally:
        upgraded.shutdown()


# -- several processes ---------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storehelpers", *args], cwd=ROOT, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def race(workers: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """Wait until every worker is ready, release them together, collect (rc, out, err)."""
    for worker in workers:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line == "ready\n", (line, worker.stderr.read() if worker.stderr else "")
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return [(w.wait(timeout=60), *w.communicate()) for w in workers]


def test_two_processes_writing_lose_nothing(store: SQLiteJobStore, db_path: Path) -> None:
    store.add_job(make_job("counter", T0, meta={"n": 0}))
    results = race([spawn("increment", str(db_path), "counter", "150", prefix)
                    for prefix in ("p", "q")])
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    counter = store.lookup_job("counter")
    assert counter is not None and counter.meta["n"] == 300
    assert counter.version == 301
    assert len(store.get_all_jobs()) == 301
    assert raw_rows(db_path, "PRAGMA integrity_check") == [("ok",)]


class ClaimRace:
    """4 processes claim 60 jobs x 25 runs each from one file, released at the same instant."""

    JOBS, RUNS, STEP = 60, 25, timedelta(seconds=1)

    def __init__(self, db_path: Path, begin: str | None = None) -> None:
        seed = SQLiteJobStore(path=db_path)
        seed.add_jobs([make_job(f"job{i:02d}", T0) for i in range(self.JOBS)])
        seed.shutdown()
        last = T0 + self.STEP * (self.RUNS - 1)
        args = ["claim", str(db_path), str(to_epoch_ms(T0 + timedelta(days=1))),
                str(self.STEP // timedelta(milliseconds=1)), str(to_epoch_ms(last)), "5"]
        results = race([spawn(*(["--begin", begin] if begin else []), *args) for _ in range(4)])
        self.codes = [rc for rc, _, _ in results]
        self.errors = "".join(err for _, _, err in results)
        self.per_worker = [[line for line in out.splitlines() if line] for _, out, _ in results]
        self.claims = Counter(line for lines in self.per_worker for line in lines)

    def expected(self) -> set[str]:
        start = to_epoch_ms(T0)
        step = self.STEP // timedelta(milliseconds=1)
        return {f"job{i:02d} {start + k * step}" for i in range(self.JOBS) for k in range(self.RUNS)}

    def duplicates(self) -> list[str]:
        return [claim for claim, count in self.claims.items() if count > 1]


@pytest.mark.slow
def test_every_run_is_claimed_exactly_once_across_processes(db_path: Path) -> None:
    result = ClaimRace(db_path)
    assert result.codes == [0, 0, 0, 0], result.errors
    assert result.duplicates() == []
    assert set(result.claims) == result.expected()
    assert sum(1 for lines in result.per_worker if lines) >= 2, "the processes never interleaved"
    assert raw_rows(db_path, "SELECT count(*) FROM jobs") == [(0,)]


@pytest.mark.slow
def test_claim_race_notices_a_deferred_begin(db_path: Path) -> None:
    """The race above has teeth: reading before taking the write lock fails it."""
    result = ClaimRace(db_path, begin="BEGIN DEFERRED")
    assert any(result.codes) or result.duplicates(), "a deferred BEGIN went unnoticed"


# -- waking a sleeping scheduler -------------------------------------------------------------


@pytest.fixture
def started(db_path: Path) -> Iterator[tuple[SQLiteJobStore, FakeScheduler]]:
    """A store started by a (fake) scheduler, listening on the wake socket."""
    scheduler = FakeScheduler()
    opened = SQLiteJobStore(path=db_path)
    start(opened, scheduler)
    yield opened, scheduler
    opened.shutdown()


def test_write_from_another_instance_wakes_the_scheduler(
    started: tuple[SQLiteJobStore, FakeScheduler], db_path: Path
) -> None:
    listening, scheduler = started
    assert listening.listening
    cli = SQLiteJobStore(path=db_path)
    cli.add_job(make_job("a", T0))
    assert scheduler.woken.wait(WAIT)
    scheduler.woken.clear()
    cli.remove_job("a")
    assert scheduler.woken.wait(WAIT)
    cli.shutdown()


def test_write_from_another_process_wakes_the_scheduler(
    started: tuple[SQLiteJobStore, FakeScheduler], db_path: Path
) -> None:
    _, scheduler = started
    code = ("import sys; from tests.storehelpers import make_job, T0;"
            "from schedctl.jobstores.sqlite import SQLiteJobStore;"
            "SQLiteJobStore(path=sys.argv[1]).add_job(make_job('from-cli', T0))")
    subprocess.run([sys.executable, "-c", code, str(db_path)], cwd=ROOT, check=True, env={
        **os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])})
    assert scheduler.woken.wait(WAIT)


WRITES = {
    "add_job": (lambda s: s.add_job(make_job("new", T0)), 1),
    "add_jobs": (lambda s: s.add_jobs([make_job("n1", T0), make_job("n2", T0)]), 1),
    "update_job": (lambda s: s.update_job(s.lookup_job("a")), 1),
    "remove_job": (lambda s: s.remove_job("a"), 1),
    "remove_all_jobs": (lambda s: s.remove_all_jobs(), 1),
    "process_due_jobs": (lambda s: s.process_due_jobs(T0, lambda job, now: Plan(None)), 0),
    "failed-write": (lambda s: pytest.raises(ConflictingIdError, s.add_job, make_job("a", T0)), 0),
}


@pytest.mark.parametrize("write, pokes", WRITES.values(), ids=WRITES.keys())
def test_which_writes_signal(
    store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch, write, pokes: int
) -> None:
    """Committed changes signal; claims do not (they would wake the scheduler on every run)."""
    store.add_job(make_job("a", T0))
    sent: list[None] = []
    monkeypatch.setattr(store._sender, "poke", lambda: sent.append(None))
    write(store)
    assert len(sent) == pokes


def test_stale_socket_file_is_replaced(db_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(f"{db_path}.wake")
    dead.close()  # the file stays: as after a kill -9
    scheduler = FakeScheduler()
    opened = SQLiteJobStore(path=db_path)
    start(opened, scheduler)
    try:
        assert opened.listening
        SQLiteJobStore(path=db_path).add_job(make_job("a", T0))
        assert scheduler.woken.wait(WAIT)
    finally:
        opened.shutdown()
    assert not os.path.exists(f"{db_path}.wake")


def test_live_listener_is_not_stolen(db_path: Path) -> None:
    other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    other.bind(f"{db_path}.wake")
    try:
        opened = SQLiteJobStore(path=db_path)
        start(opened)
        assert not opened.listening
        opened.add_job(make_job("a", T0))
        other.settimeout(WAIT)
        assert other.recv(8) == b"\x01"  # the other listener still gets the signals
        opened.shutdown()
        assert os.path.exists(f"{db_path}.wake")  # not ours to unlink
    finally:
        other.close()


def test_socket_path_too_long_falls_back_to_polling(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    opened = SQLiteJobStore(path=deep / "state.db")
    try:
        start(opened)
        assert not opened.listening
        opened.add_job(make_job("a", T0))  # the signal fails quietly; the write stands
        assert opened.lookup_job("a") is not None
    finally:
        opened.shutdown()


def test_shutdown_releases_everything_and_restart_works(db_path: Path) -> None:
    scheduler = FakeScheduler()
    opened = SQLiteJobStore(path=db_path)
    start(opened, scheduler)
    opened.shutdown()
    assert not opened.listening and opened._conn is None
    assert not os.path.exists(opened.wake_path)
    assert not [t for t in threading.enumerate() if t.name.startswith("schedctl-wake")]
    assert opened.get_all_jobs() == []  # usable without a scheduler: reopens on demand
    start(opened, scheduler)
    try:
        SQLiteJobStore(path=db_path).add_job(make_job("a", T0))
        assert scheduler.woken.wait(WAIT)
    finally:
        opened.shutdown()


def test_data_version_changes_when_another_connection_commits(
    store: SQLiteJobStore, db_path: Path
) -> None:
    before = store.data_version()
    store.add_job(make_job("mine", T0))
    assert store.data_version() == before  # own commits do not count
    SQLiteJobStore(path=db_path).add_job(make_job("theirs", T0))
    assert store.data_version() != before


def test_a_job_may_remove_itself_from_another_thread(store: SQLiteJobStore) -> None:
    """Executor threads share the store with the scheduler thread."""
    store.add_jobs([make_job(f"j{i}", T0) for i in range(40)])
    with ThreadPoolExecutor(8) as pool:
        removals = [pool.submit(store.remove_job, f"j{i}") for i in range(40)]
        store.process_due_jobs(T0, lambda job, now: Plan(T0 + timedelta(seconds=1)))
        for removal in removals:
            removal.result(timeout=WAIT)  # re-raises anything the thread raised
    assert store.get_all_jobs() == []


def test_count_jobs_counts_paused_ones_without_decoding(store: SQLiteJobStore) -> None:
    assert store.count_jobs() == (0, 0)
    store.add_jobs([make_job("a", T0), make_job("b", None), make_job("c", T0)])
    assert store.count_jobs() == (3, 1)


# -- checkpoints --------------------------------------------------------------------------------


def autocheckpoint(store: SQLiteJobStore) -> int:
    with store._reading() as conn:
        return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_scheduler_leaves_checkpoints_to_a_thread_of_their_own(db_path: Path) -> None:
    """While a scheduler runs the store its commits never checkpoint (an fsync in a claim
    delays every run due meanwhile); the store's thread copies the log back instead."""
    store = SQLiteJobStore(path=db_path)
    assert autocheckpoint(store) == 1000  # SQLite's default, for the CLI's connections
    reader = sqlite3.connect(db_path)  # open throughout: closing the store's is not the last
    try:
        start(store)
        assert autocheckpoint(store) == 0
        size = db_path.stat().st_size
        store.add_jobs([make_job(f"j{i}", T0, kwargs={"pad": "x" * 200}) for i in range(300)])
        store.shutdown()  # the thread checkpoints a moment after commits, and once as it ends
        assert db_path.stat().st_size > size
        assert raw_rows(db_path, "SELECT count(*) FROM jobs") == [(300,)]
        assert autocheckpoint(store) == 1000  # a connection opened anew after shutdown
    finally:
        reader.close()
        store.shutdown()


def test_a_checkpoint_of_a_removed_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    checkpointer = Checkpointer(str(path), logging.getLogger("test"))
    assert checkpointer.checkpoint() is False
    assert not path.exists()


def test_no_checkpoint_into_a_file_truncated_under_the_store(db_path: Path) -> None:
    """Copying the log into a state file truncated meanwhile would fill it out again: the
    heartbeat's check would no longer see the change, and the pages that were not in the
    log would read as zeros. The file is left as it is, for the heartbeat to take back."""
    store = SQLiteJobStore(path=db_path)
    try:
        start(store)
        store.add_jobs([make_job(f"j{i}", T0) for i in range(50)])
        os.truncate(db_path, 0)
        store.add_jobs([make_job("late", T0)])
        assert store._checkpointer is not None and store._checkpointer.checkpoint() is False
        assert db_path.stat().st_size == 0 and store.file_change() == "truncated"
    finally:
        store.shutdown()
