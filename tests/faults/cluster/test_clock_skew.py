"""A node whose clock is 30 s fast (fault table #7): the database's clock decides.

The node is ``schedctl run``'s own ``serve()`` on a :class:`~harness.FastClock`, in a
process of its own, alone on the store. Its jobs: ``once``, due at T (a ``date:``
job); ``strict``, the same with a 5 s misfire grace; ``every2``, every 2 s. One
scenario is run (module fixture), and each test reads one consequence of it:

* nothing starts before it is due by the database's clock, and the job due at T
  starts at T: not 30 s early (due-ness by the node's clock), not 30 s late;
* the run's history (``started_at``) is in the database's time, like ``scheduled_for``;
* a job the fast node adds first fires on schedule, not 30 s late;
* a job due at T with a misfire grace shorter than the skew still runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from schedctl.clock import SystemClock
from schedctl.timeutil import to_epoch_ms
from tests.cli.conftest import _SCRUBBED, SCHEDCTL
from tests.cli.helpers import wait_until
from tests.faults.cluster.harness import (
    LEDGER,
    Cluster,
    Run,
    Start,
    db_now_ms,
    env_with_harness,
    iso,
    read_ledger,
    runs,
    skewed_node_argv,
)
from tests.pgserver import PostgresServer

SKEW = 30.0
#: How far ahead of the scenario's start the one-shot jobs are due.
LEAD = 2.0
#: How long the fast node runs past T.
AFTER = 1.5


@dataclass
class Outcome:
    due: int  # T, epoch ms
    starts: list[Start]
    rows: list[Run]
    log: str

    def started(self, job_id: str) -> list[Start]:
        return [s for s in self.starts if s.job_id == job_id]

    def rows_of(self, job_id: str) -> list[Run]:
        return [r for r in self.rows if r.job_id == job_id]


JOBS = """\
timezone: UTC
cluster: {{lease: 3s}}
defaults:
  command: '{command}'
jobs:
  once: {{date: '{due}'}}
  strict: {{date: '{due}', misfire_grace_time: 5s}}
  every2: {{interval: 2s}}
"""


@pytest.fixture(scope="module")
def skewed(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    workdir = tmp_path_factory.mktemp("skew")
    url = postgres_server.create_database(f"t_skew_{os.getpid()}")
    env = env_with_harness({k: v for k, v in os.environ.items() if k not in _SCRUBBED})
    nodes = Cluster(SCHEDCTL, workdir, env)
    ledger = workdir / "ledger.txt"
    due = datetime.fromisoformat(iso(SystemClock().now() + timedelta(seconds=LEAD)))  # whole ms
    path = workdir / "jobs.yaml"
    path.write_text(JOBS.format(command=LEDGER.format(ledger=ledger), due=iso(due)))
    try:
        node = nodes.launch_argv(skewed_node_argv(path, url, "fast", SKEW), "fast")
        node.daemon.wait_ready(15)
        end = to_epoch_ms(due) + AFTER * 1000
        wait_until(lambda: db_now_ms(url) >= end, LEAD + AFTER + 5, what="the scenario to end")
        assert nodes.stop_all() == {"fast": 0}, nodes.logs()
        yield Outcome(to_epoch_ms(due), read_ledger(ledger), runs(url), node.log())
    finally:
        nodes.kill_all()
        postgres_server.drop_database(f"t_skew_{os.getpid()}")


def test_nothing_starts_before_it_is_due_by_the_database_clock(skewed: Outcome) -> None:
    assert skewed.starts, skewed.log
    early = [s for s in skewed.starts if s.at < s.scheduled_for / 1000]
    assert not early, early


def test_a_job_due_at_t_starts_at_t_not_30_s_early_or_late(skewed: Outcome) -> None:
    [start] = skewed.started("once")
    print(f"\nnode clock +{SKEW:.0f} s: 'once' started {start.lateness * 1000:.0f} ms after T")
    assert start.scheduled_for == skewed.due
    assert 0 <= start.lateness < 0.5


def test_the_history_of_a_run_is_in_the_database_clock(skewed: Outcome) -> None:
    [start] = skewed.started("once")
    [row] = skewed.rows_of("once")
    assert row.state == "success"
    assert abs(row.started_at / 1000 - start.at) < 1.0, (row.started_at, start.at)
    assert row.finished_at >= row.started_at and row.finished_at / 1000 < start.at + 2.0


def test_a_recurring_job_added_by_a_fast_node_first_fires_on_schedule(skewed: Outcome) -> None:
    starts = skewed.started("every2")
    assert starts, f"no run of a 2 s job in {LEAD + AFTER:.1f} s: {skewed.rows_of('every2')}"
    assert all(0 <= s.lateness < 0.5 for s in starts)


def test_a_short_misfire_grace_does_not_drop_a_fast_nodes_run(skewed: Outcome) -> None:
    rows = [(r.state, r.error) for r in skewed.rows_of("strict")]
    assert [s.job_id for s in skewed.started("strict")] == ["strict"], rows

