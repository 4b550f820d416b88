"""Running several real ``schedctl run`` nodes on one PostgreSQL store, and reading what
they and their commands left behind.

* :class:`Cluster` starts nodes (``schedctl run JOBFILE --state URL --node NAME``), each
  in its own session so a signal meant for one node never reaches another, and finds
  the node that owns a run.
* The commands write what really happened, independently of the store: :data:`LEDGER`
  appends one line per start (job, slot, attempt, run id, wall time), and
  :data:`HEARTBEATS` writes a start line, then a beat every 0.1 s, then an end line,
  so the life of a command (and when it was killed) can be read back after the fact.
* :func:`runs` and :func:`sql` read the database as an operator would, with ``psql``'s
  eyes: the ``schedctl`` schema, times in epoch milliseconds of the database's clock.
* :class:`FastClock` is a node clock that runs ahead of the real one, and
  :func:`serve_skewed` runs a node on it (``python -m tests.faults.cluster.harness``).

All nodes and the database run on this host, so the wall time a command writes and
the database's ``now()`` are the same clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from schedctl.clock import SystemClock
from schedctl.timeutil import to_epoch_ms
from tests.cli.helpers import Daemon

#: The repository root, for processes that import the test harness.
ROOT = Path(__file__).resolve().parents[3]

#: One line per command start: job, slot (ISO), attempt, run id, wall time (epoch s).
LEDGER = ('echo "$SCHEDCTL_JOB_ID $SCHEDCTL_SCHEDULED_FOR $SCHEDCTL_ATTEMPT $SCHEDCTL_RUN_ID'
          ' $(date +%s.%N)" >> {ledger}')

#: A command that lives about ``beats`` tenths of a second and says so as it goes.
HEARTBEATS = (
    'echo "start $SCHEDCTL_RUN_ID $SCHEDCTL_ATTEMPT $$ $(date +%s.%N)" >> {path}; n=0;'
    ' while [ $n -lt {beats} ]; do sleep 0.1; n=$((n+1));'
    ' echo "beat $SCHEDCTL_RUN_ID $SCHEDCTL_ATTEMPT $$ $(date +%s.%N)" >> {path}; done;'
    ' echo "end $SCHEDCTL_RUN_ID $SCHEDCTL_ATTEMPT $$ $(date +%s.%N)" >> {path}'
)


def iso(when: datetime) -> str:
    """A time for a jobfile (quoted there: a string, not a YAML timestamp)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def wall() -> float:
    """Epoch seconds now, as the commands write them (``date +%s.%N``)."""
    return SystemClock().now().timestamp()


# -- the nodes ------------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    daemon: Daemon

    @property
    def pid(self) -> int:
        return self.daemon.proc.pid

    def log(self) -> str:
        return self.daemon.log()


class Cluster:
    """The nodes one test started on one store; all SIGKILLed by :meth:`kill_all`."""

    def __init__(self, executable: str, workdir: Path, env: dict[str, str]) -> None:
        self.executable, self.workdir, self.env = executable, workdir, env
        self.nodes: list[Node] = []

    def launch(self, jobfile: Path, url: str, name: str) -> Node:
        """Start a node and return at once (see :meth:`start` to wait until it is up)."""
        argv = [self.executable, "run", str(jobfile), "--state", url, "--node", name,
                "--shutdown-timeout", "5s"]
        return self._popen(argv, name)

    def launch_argv(self, argv: list[str], name: str) -> Node:
        """Start any process as a node (a skewed one, say) with the nodes' environment."""
        return self._popen(argv, name)

    def _popen(self, argv: list[str], name: str) -> Node:
        log = self.workdir / f"{name}-{len(self.nodes)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, start_new_session=True)
        node = Node(name, Daemon(proc, log))
        self.nodes.append(node)
        return node

    def start(self, jobfile: Path, url: str, *names: str, timeout: float = 15.0) -> list[Node]:
        """Start the named nodes together and wait until every one has started."""
        started = [self.launch(jobfile, url, name) for name in names]
        for node in started:
            node.daemon.wait_ready(timeout)
        return started

    def named(self, name: str) -> Node:
        """The node of that name (the latest one started under it)."""
        return [n for n in self.nodes if n.name == name][-1]

    def stop_all(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM every live node at once; their exit codes once all have stopped."""
        live = [n for n in self.nodes if n.daemon.alive()]
        for node in live:
            node.daemon.signal(signal.SIGTERM)
        return {node.name: node.daemon.wait_exit(timeout) for node in live}

    def kill_all(self) -> None:
        """SIGKILL every node (a frozen one too); their shims then end their commands."""
        for node in self.nodes:
            node.daemon.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {n.name} (pid {n.pid}) ---\n{n.log()}" for n in self.nodes)


# -- the database ----------------------------------------------------------------------------------


@contextmanager
def connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True, options="-c search_path=schedctl",
                         connect_timeout=5) as conn:
        yield conn


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def db_now_ms(url: str) -> int:
    return int(sql(url, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")[0][0])


@dataclass(frozen=True)
class Run:
    """One row of the runs table (times: epoch ms by the database's clock)."""

    run_id: int
    job_id: str
    scheduled_for: int
    attempt: int
    state: str
    reason: str
    owner: str | None
    started_at: int | None
    finished_at: int | None
    lease_expires_at: int | None
    error: str | None

    @property
    def node(self) -> str | None:
        return None if self.owner is None else self.owner.split("/", 1)[0]


def runs(url: str, job_id: str | None = None) -> list[Run]:
    """The run rows (of one job), oldest first; empty before the tables exist."""
    query = ("SELECT run_id, job_id, scheduled_for, attempt, state, reason, owner, started_at,"
             " finished_at, lease_expires_at, error FROM runs"
             " WHERE %s::text IS NULL OR job_id = %s ORDER BY run_id")
    try:
        return [Run(*row) for row in sql(url, query, job_id, job_id)]
    except psycopg.errors.UndefinedTable:
        return []


def run_of(url: str, job_id: str, attempt: int = 1, state: str | None = None) -> Run | None:
    """The first row of that attempt of ``job_id`` (in ``state`` if given)."""
    for run in runs(url, job_id):
        if run.attempt == attempt and (state is None or run.state == state):
            return run
    return None


def kill_listeners(url: str) -> int:
    """Terminate every node's LISTEN connection to the database; how many there were."""
    rows = sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'schedctl-listen' AND datname = current_database()")
    return len(rows)


def listeners(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                        " 'schedctl-listen' AND datname = current_database()")[0][0])


# -- what the commands wrote -----------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """A ledger line: a command that really started."""

    job_id: str
    scheduled_for: int  # epoch ms
    attempt: int
    run_id: int | None
    at: float  # epoch s

    @property
    def slot(self) -> tuple[str, int]:
        return self.job_id, self.scheduled_for

    @property
    def lateness(self) -> float:
        return self.at - self.scheduled_for / 1000


def read_ledger(path: Path) -> list[Start]:
    """The :data:`LEDGER` lines of ``path``, in the order the commands started."""
    if not path.exists():
        return []
    starts = []
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) != 5:
            continue  # a line still being written, read half-way
        job_id, when, attempt, run_id, at = parts
        starts.append(Start(job_id, to_epoch_ms(datetime.fromisoformat(when)), int(attempt),
                            int(run_id) if run_id else None, float(at)))
    return starts


@dataclass
class Life:
    """One command's life as it wrote it: first and last sign of life, and whether it ended."""

    run_id: int
    attempt: int
    pid: int
    first: float
    last: float
    ended: bool = False


def read_lives(path: Path) -> dict[int, Life]:
    """Run id -> the life of its command, from a :data:`HEARTBEATS` file."""
    lives: dict[int, Life] = {}
    if not path.exists():
        return lives
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) != 5:
            continue  # a line cut short by a kill
        kind, run_id, attempt, pid, at = parts
        key = int(run_id)
        if kind == "start":
            lives[key] = Life(key, int(attempt), int(pid), float(at), float(at))
        elif key in lives:
            lives[key].last = max(lives[key].last, float(at))
            lives[key].ended |= kind == "end"
    return lives


def overlaps(lives: Iterable[Life]) -> list[tuple[int, int]]:
    """Pairs of run ids whose commands were alive at the same time."""
    ordered = sorted(lives, key=lambda life: life.first)
    return [(a.run_id, b.run_id) for i, a in enumerate(ordered) for b in ordered[i + 1:]
            if b.first <= a.last]


def by_job(starts: Iterable[Start]) -> dict[str, list[int]]:
    slots: dict[str, list[int]] = defaultdict(list)
    for start in starts:
        slots[start.job_id].append(start.scheduled_for)
    return {job_id: sorted(times) for job_id, times in slots.items()}


# -- a node whose clock is wrong ------------------------------------------------------------------


class FastClock(SystemClock):
    """The real clock, ``offset`` seconds ahead (a host whose NTP never synced). Its
    ``wait`` is SystemClock's, which measures the timeout against this ``now()``."""

    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return super().now() + self.offset


def skewed_node_argv(jobfile: Path, url: str, name: str, offset: float) -> list[str]:
    """The command line of a node like ``schedctl run`` whose clock is ``offset`` s fast."""
    return [sys.executable, "-m", "tests.faults.cluster.harness", str(jobfile), url, name,
            repr(offset)]


def serve_skewed(jobfile: str, url: str, name: str, offset: float) -> int:
    """``schedctl run JOBFILE --state URL --node NAME`` on a :class:`FastClock`."""
    from schedctl.service.daemon import ServeOptions, serve
    from schedctl.service.logfmt import setup_logging

    setup_logging("text")
    options = ServeOptions(jobfile=jobfile, state=url, node=name, shutdown_timeout=5.0)
    return serve(options, clock=FastClock(offset))


def env_with_harness(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the repository importable, for processes that run this module."""
    path = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path}


if __name__ == "__main__":
    raise SystemExit(serve_skewed(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
