"""Nodes of one PostgreSQL store: which jobfile rules when theirs differ, and what
``status`` says about them. In-process against a real server."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedctl.clock import SystemClock
from schedctl.cluster.node import ClusterNode, jobfile_digest
from schedctl.state.history import RunHistory
from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.postgresql import PostgreSQLJobStore
from schedctl.jobstores.leases import ClaimRegistry
from schedctl.state.statusview import status_view

OLD = """\
jobs:
  backup:
    command: "echo old"
    interval: 1h
"""
NEW = """\
jobs:
  backup:
    command: "echo new"
    interval: 1h
  report:
    command: "echo report"
    cron: "0 6 * * *"
"""


def write(path: Path, text: str, mtime: float) -> Path:
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def stores(pg_url: str) -> Iterator[list[PostgreSQLJobStore]]:
    made: list[PostgreSQLJobStore] = []

    def make() -> PostgreSQLJobStore:
        made.append(PostgreSQLJobStore(pg_url))
        return made[-1]

    yield [make(), make()]
    for store in made:
        store.shutdown()


def node(store: PostgreSQLJobStore, path: Path, name: str) -> ClusterNode:
    member = ClusterNode(store, load_jobfile(path), node_id=name, claims=ClaimRegistry())
    member.join()
    return member


def commands(store: PostgreSQLJobStore) -> dict[str, str]:
    return {job.id: job.kwargs["spec"]["command"] for job in store.get_all_jobs()}


def test_the_most_recently_modified_jobfile_wins_whoever_starts_last(
    stores: list[PostgreSQLJobStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = write(tmp_path / "old.yaml", OLD, 1_000_000)
    new = write(tmp_path / "new.yaml", NEW, 2_000_000)
    now = SystemClock().now()
    fresh, stale = node(stores[0], new, "n1"), node(stores[1], old, "n2")
    assert fresh.sync(fresh.jobfile, now) is not None
    with caplog.at_level(logging.WARNING, logger="schedctl.cluster"):
        assert stale.sync(stale.jobfile, now) is None  # the older file is not applied
    assert commands(stores[0]) == {"backup": "echo new", "report": "echo report"}
    [warning] = [r.getMessage() for r in caplog.records]
    assert "node n1" in warning and str(new) in warning and "not applied" in warning
    # Deploying the file anew (a newer mtime) makes it the one that rules.
    os.utime(old, (3_000_000, 3_000_000))
    assert stale.sync(stale.jobfile, now) is not None
    assert commands(stores[0]) == {"backup": "echo old"}


def test_status_marks_the_nodes_whose_jobfile_differs(
    stores: list[PostgreSQLJobStore], tmp_path: Path
) -> None:
    fresh = node(stores[0], write(tmp_path / "new.yaml", NEW, 2_000_000), "n1")
    stale = node(stores[1], write(tmp_path / "old.yaml", OLD, 1_000_000), "n2")
    now = SystemClock().now()
    fresh.sync(fresh.jobfile, now)
    stale.sync(stale.jobfile, now)
    view = status_view(stores[0], RunHistory(stores[0]), now)
    assert view.running and view.nodes is not None
    assert [(n.node, n.alive, n.jobfile_differs) for n in view.nodes] == [
        ("n1", True, False), ("n2", True, True)]
    stale.leave()
    view = status_view(stores[0], RunHistory(stores[0]), now)
    assert [(n.node, n.alive) for n in view.nodes or []] == [("n1", True), ("n2", False)]
    assert view.to_json()["nodes"][1]["stopped_at"] is not None


def test_the_digest_ignores_comments_and_layout(tmp_path: Path) -> None:
    plain = load_jobfile(write(tmp_path / "a.yaml", OLD, 1))
    commented = load_jobfile(write(tmp_path / "b.yaml", "# nightly\n" + OLD.replace(
        "    interval: 1h", "    interval: 60m   # hourly"), 1))
    changed = load_jobfile(write(tmp_path / "c.yaml", NEW, 1))
    assert jobfile_digest(plain) == jobfile_digest(commented) != jobfile_digest(changed)
