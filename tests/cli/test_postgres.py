"""Every command works on a PostgreSQL store as it does on a state file: the real
``schedctl`` executable against a real server."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import CLI
from tests.cli.helpers import Daemon, as_json, wait_until
from tests.test_pings import Monitor, monitor_server  # noqa: F401  (a fixture)

JOBS = """\
cluster:
  node: alpha
  lease: 3s
jobs:
  tick:
    interval: 1s
    command: echo "run $SCHEDCTL_RUN_ID attempt $SCHEDCTL_ATTEMPT"
  nightly:
    cron: "0 3 * * *"
    command: echo nightly
"""


def test_the_commands_work_on_a_postgresql_store(
    schedctl: CLI, jobfile: Callable[[str], Path], scheduler: Callable[..., Daemon], pg_url: str
) -> None:
    jobs = jobfile(JOBS)
    assert schedctl("validate", jobs).returncode == 0
    daemon = scheduler(jobs, "--state", pg_url)
    assert "as node alpha" in daemon.log()
    daemon.wait_for_log("tick: success")
    assert "run " in daemon.log() and "attempt 1" in daemon.log()

    listed = {job["id"]: job for job in as_json(schedctl("list", "--state", pg_url, "--json"))}
    assert listed["tick"]["node"] == "alpha" and listed["nightly"]["state"] == "scheduled"

    status = schedctl("status", "--state", pg_url, "--json")
    assert status.returncode == 0, status.stderr
    [node] = as_json(status)["nodes"]
    assert (node["node"], node["alive"], node["jobfile_differs"]) == ("alpha", True, False)

    assert schedctl("pause", "--state", pg_url, "tick").returncode == 0
    paused_at = len(as_json(schedctl("history", "--state", pg_url, "tick", "--json", "-n", "1000")))
    assert as_json(schedctl("list", "--state", pg_url, "--json"))[-1]["state"] == "paused"

    requested = schedctl("run-now", "--state", pg_url, "nightly")
    assert "requested from the running scheduler" in requested.stdout, requested.stdout
    daemon.wait_for_log("nightly: success")
    # The audit trail: the node logs who asked, and from which host.
    host = socket.gethostname()
    daemon.wait_for_log(f"tick: paused by uid {os.getuid()} (root) on {host}")
    daemon.wait_for_log(f"nightly: run requested by uid {os.getuid()} (root) on {host}")

    # Paused stays paused: no more runs of tick (the run-now above took about as long as
    # a few ticks would).
    ticks = as_json(schedctl("history", "--state", pg_url, "tick", "--json", "-n", "1000"))
    assert len(ticks) == paused_at
    assert {run["owner"].split("/")[0] for run in ticks} == {"alpha"}

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    stopped = schedctl("status", "--state", pg_url)
    assert stopped.returncode == 3 and "0 of 1 node(s) alive" in stopped.stdout


def test_an_unreachable_database_is_one_clear_line(schedctl: CLI, jobfile: Callable[[str], Path]) -> None:
    url = "postgresql://me:hunter2@127.0.0.1:1/jobs"
    for args in (("list", "--state", url), ("run", "--state", url, jobfile(JOBS))):
        result = schedctl(*args)
        assert result.returncode != 0
        assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert "hunter2" not in result.stderr + result.stdout


def test_a_second_node_of_the_same_name_is_refused(
    schedctl: CLI, jobfile: Callable[[str], Path], scheduler: Callable[..., Daemon], pg_url: str
) -> None:
    jobs = jobfile(JOBS)
    scheduler(jobs, "--state", pg_url)
    twin = scheduler(jobs, "--state", pg_url, ready=False)
    code = twin.wait_exit()
    assert code != 0
    assert "'alpha' is alive" in twin.log() and "Traceback" not in twin.log(), twin.log()
    other = scheduler(jobs, "--state", pg_url, "--node", "beta")
    wait_until(lambda: len(as_json(schedctl("status", "--state", pg_url, "--json"))["nodes"]) == 2,
               5, what="two nodes in status")
    assert other.alive()


def test_a_command_job_in_a_process_pool_is_refused(
    schedctl: CLI, jobfile: Callable[[str], Path], pg_url: str
) -> None:
    """Its command would run in a worker process, out of reach of the node's leases."""
    jobs = jobfile("""
        executors:
          heavy: {type: processpool, max_workers: 2}
        jobs:
          crunch:
            command: "true"
            interval: 1m
            executor: heavy
    """)
    result = schedctl("run", "--state", pg_url, jobs)
    assert result.returncode == 1, result.stderr
    assert f"{jobs}:4: jobs.crunch.executor" in result.stderr and "processpool" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_cut_short_by_a_nodes_stop_is_handed_to_another_node(
    schedctl: CLI, jobfile: Callable[[str], Path], scheduler: Callable[..., Daemon], pg_url: str,
    tmp_path: Path, monitor_server: Callable[..., Monitor],  # noqa: F811  (the fixture)
    cli_env: dict[str, str],
) -> None:
    """on_orphan: rerun is "at least once" through a rolling restart too, not only a crash.
    The attempt handed over ends its ping on the node that started it (only it knows the
    rid), as orphaned; the rerun pings start and end with a rid of its own, as a retry does."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        cli_env.pop(name, None)
    monitor = monitor_server()
    marks = tmp_path / "marks"
    jobs = jobfile(f"""
        cluster:
          lease: 3s
        jobs:
          long:
            interval: 1h
            command: echo "$SCHEDCTL_ATTEMPT" >> {marks}; sleep 4
            on_orphan: rerun
            ping: {monitor.url}/hc
    """)
    first = scheduler(jobs, "--state", pg_url, "--node", "a", "--shutdown-timeout", "0.3s")
    assert schedctl("run-now", "--state", pg_url, "long").returncode == 0
    wait_until(lambda: marks.exists(), what="the first attempt to start")
    second = scheduler(jobs, "--state", pg_url, "--node", "b")
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    assert "its lease is given up" in first.log(), first.log()
    wait_until(lambda: marks.read_text().split() == ["1", "2"], 10,
               what="a second attempt on the other node", context=second.log)
    rows = as_json(schedctl("history", "--state", pg_url, "long", "--json"))
    by_attempt = {row["attempt"]: row for row in rows}
    assert by_attempt[1]["state"] == "orphaned" and by_attempt[1]["owner"].startswith("a/")
    assert by_attempt[2]["owner"].startswith("b/")
    pings = [(ping.path, ping.query["rid"][0]) for ping in monitor.wait_for(4)]
    assert [path for path, _ in pings] == ["/hc/start", "/hc/fail", "/hc/start", "/hc/0"]
    assert pings[0][1] == pings[1][1] != pings[2][1] == pings[3][1]
