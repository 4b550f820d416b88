"""Fixtures of the cluster fault suite: nodes that are always cleaned up, the files their
commands write, and a PostgreSQL server of a test's own for the test that freezes it.

The command-line fixtures (``schedctl``, ``jobfile``, ``cli_env``) come from
``tests/faults/conftest.py``, the shared server and ``pg_url`` from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import SCHEDCTL
from tests.conftest import start_postgres
from tests.faults.cluster.harness import HEARTBEATS, LEDGER, Cluster
from tests.pgserver import PostgresServer


@pytest.fixture
def cluster(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Cluster]:
    """Starts ``schedctl run`` nodes; every one still alive is SIGKILLed at teardown."""
    nodes = Cluster(SCHEDCTL, tmp_path, cli_env)
    yield nodes
    nodes.kill_all()


@pytest.fixture
def ledger_line(ledger: Path) -> str:
    """The shell command that appends this run's start to ``ledger`` (``harness.read_ledger``)."""
    return LEDGER.format(ledger=ledger)


@pytest.fixture
def lives(tmp_path: Path) -> Path:
    """Where :func:`heartbeats` commands write their lives (``harness.read_lives``)."""
    return tmp_path / "lives.txt"


@pytest.fixture
def heartbeats(lives: Path) -> Callable[[float], str]:
    """``heartbeats(seconds)``: a command that lives that long, writing to ``lives``."""
    return lambda seconds: HEARTBEATS.format(path=lives, beats=round(seconds * 10))


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone, for a test that freezes the server: the
    session's server is shared, and freezing it would stall every other test."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
