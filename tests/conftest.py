"""Fixtures shared by the suite: a fake clock, schedulers driven by it, small job functions,
and a throwaway PostgreSQL server with a fresh database per test."""

from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from schedctl.clock import FakeClock
from schedctl.events import EVENT_ALL
from schedctl.schedulers.background import BackgroundScheduler
from tests.pgserver import PostgresNotFoundError, PostgresServer
from tests.prerequisites import missing

UTC = UTC
START = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


class EventLog:
    """Collects scheduler events so tests can assert on sequences."""

    def __init__(self) -> None:
        self.events: list = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def codes(self, job_id: str | None = None) -> list[int]:
        with self._lock:
            return [e.code for e in self.events if job_id is None or getattr(e, "job_id", None) == job_id]

    def of(self, code: int) -> list:
        with self._lock:
            return [e for e in self.events if e.code == code]

    def wait_for(self, code: int, count: int = 1, timeout: float = 10.0) -> list:
        """Block until ``count`` events with ``code`` arrived (a wait on a condition, not a sleep)."""
        with self._changed:
            self._changed.wait_for(lambda: len([e for e in self.events if e.code == code]) >= count, timeout)
            return [e for e in self.events if e.code == code]


@pytest.fixture
def event_log() -> EventLog:
    return EventLog()


@pytest.fixture
def debug_scheduler(fake_clock: FakeClock, event_log: EventLog) -> Iterator[BackgroundScheduler]:
    """A scheduler whose loop is driven by the test through ``tick`` and whose jobs run inline.

    It is started paused-free but never gets a loop thread: tests call ``tick(now)``.
    """
    scheduler = TickOnlyScheduler(
        clock=fake_clock, timezone="UTC", executors={"default": {"type": "debug"}}
    )
    scheduler.add_listener(event_log, EVENT_ALL)
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=False)


class TickOnlyScheduler(BackgroundScheduler):
    """A BackgroundScheduler that never starts its loop thread: the test is the loop."""

    def start(self, paused: bool = False) -> None:
        self._wake.clear()
        super(BackgroundScheduler, self).start(paused)

    def wakeup(self) -> None:
        self.wakeups = getattr(self, "wakeups", 0) + 1


# -- job functions: module level, so they can be stored as "tests.conftest:name" ---------------

CALLS: list[tuple] = []


def record(*args, **kwargs) -> str:
    CALLS.append((args, kwargs))
    return "ok"


def fail() -> None:
    raise RuntimeError("boom")


# -- a real second user ---------------------------------------------------------------------


@dataclass(frozen=True)
class UnixUser:
    """A local account made by ``useradd`` for the session: its home exists, and besides
    its own group it belongs to ``extra_gid`` (which initgroups must give its commands)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    extra_gid: int


@pytest.fixture(scope="session")
def unix_user() -> Iterator[UnixUser]:
    """A user that ``user:`` jobs run as; skips only when the suite does not run as root."""
    if os.geteuid() != 0:
        pytest.skip("making a user (and switching to it) needs root")
    tag = f"{os.getpid() % 100000}"
    name, group = f"sct-runas{tag}", f"sct-extra{tag}"
    subprocess.run(["groupadd", group], check=True, capture_output=True)
    try:
        subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
                        "--groups", group, name], check=True, capture_output=True)
        try:
            entry = pwd.getpwnam(name)
            yield UnixUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell,
                           grp.getgrnam(group).gr_gid)
        finally:
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    finally:
        subprocess.run(["groupdel", group], check=False, capture_output=True)


# -- PostgreSQL ------------------------------------------------------------------------------


def start_postgres() -> PostgresServer:
    """A started private server, or the test skipped (failed in CI) if none can be made."""
    try:
        server = PostgresServer()
    except PostgresNotFoundError:
        missing("postgresql")
    return server.start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the whole session (see tests/pgserver.py).

    Session-scoped because starting a cluster costs about a second; tests are isolated
    from each other by ``pg_url``'s per-test database instead. Without the PostgreSQL
    server binaries the tests that need it skip with the install command; under CI they
    fail (tests/prerequisites.py).
    """
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a database created for this test alone, dropped (forcibly) afterwards.

    The name carries the test's name, for reading the server log, and a random suffix,
    so parametrized and repeated tests never share a database.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
