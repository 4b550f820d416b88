"""End to end: ``schedctl run --metrics`` scraped over HTTP, ``schedctl metrics`` from the
state file, and ``/healthz`` when the store goes away. The exposition is read with
prometheus_client's parser, as Prometheus reads it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schedctl.jobstores.sqlite import SQLiteJobStore
from tests.cli.helpers import Daemon, as_json, read_runs, wait_until
from tests.faults.test_broken_state import fill, tmpfs

JOBS = """\
state: state.db
jobs:
  ok:
    command: "true"
    interval: 0.5s
  bad:
    command: exit 3
    interval: 0.5s
  slow:
    command: sleep 5
    interval: 1s
    timeout: 0.2s
  busy:
    command: sleep 1.2
    interval: 0.5s
  late:
    command: "true"
    interval: 1h
    misfire_grace_time: 1s
  held:
    command: "true"
    interval: 1h
    paused: true
"""

#: The outcome each job shows first, and the jobs the test pauses before it compares.
WANTED = {"ok": "success", "bad": "failed", "slow": "timeout", "busy": "skipped"}
_SERVING = re.compile(r"Serving metrics on (http://\S+/metrics)")


def metrics_url(daemon: Daemon) -> str:
    daemon.wait_for_log("Serving metrics on")
    match = _SERVING.search(daemon.log())
    assert match, daemon.log()
    return match.group(1)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def by_labels(found: list, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in keys): s.value for s in found if s.name == name}


def outcomes(state: Path) -> set[tuple[str, str]]:
    return {(run.job_id, run.state) for run in read_runs(state)}


def test_counters_gauges_and_histograms_equal_the_history_across_a_restart(
    schedctl, jobfile, scheduler, state: Path
) -> None:
    path = jobfile(JOBS)
    first = scheduler(path, "--metrics", "127.0.0.1:0")
    metrics_url(first)
    wait_until(lambda: set(WANTED.items()) <= outcomes(state), timeout=10,
               what="a success, a failure, a timeout and a skipped run", context=first.log)
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0

    # While schedctl was down, 'late' missed three hourly runs, beyond its grace time.
    store = SQLiteJobStore(path=state)
    late = store.lookup_job("late")
    assert late is not None and late.next_run_time is not None
    late.next_run_time -= timedelta(hours=3, minutes=1)
    store.update_job(late)
    store.shutdown()

    second = scheduler(path, "--metrics", "127.0.0.1:0")
    url = metrics_url(second)
    wait_until(lambda: ("late", "missed") in outcomes(state), what="the missed runs of late",
               context=second.log)
    assert schedctl("pause", "--state", state, *WANTED).returncode == 0
    wait_until(lambda: all(run.state != "running" for run in read_runs(state)), timeout=10,
               what="no run going on", context=second.log)
    found = samples(fetch(url)[1])
    history = read_runs(state)

    counted = Counter((run.job_id, run.state) for run in history)
    runs = by_labels(found, "schedctl_runs_total", "job_id", "outcome")
    assert {key: value for key, value in runs.items() if value} == counted
    assert runs[("held", "failed")] == 0  # shown from the start, so increase() sees the first
    durations = by_labels(found, "schedctl_run_duration_seconds_count", "job_id")
    timed = Counter(run.job_id for run in history if run.duration is not None)
    assert {job: durations[(job,)] for job in timed} == timed
    assert durations[("held",)] == 0
    assert by_labels(found, "schedctl_run_lateness_seconds_count")[()] == sum(
        1 for run in history if run.started_at is not None and run.attempt == 1)
    assert by_labels(found, "schedctl_missed_runs_total", "job_id")[("late",)] == 3
    last = max(run.finished_at for run in history if run.job_id == "ok" and run.state == "success")
    assert by_labels(found, "schedctl_last_success_timestamp_seconds", "job_id")[("ok",)] == (
        pytest.approx(last.timestamp()))

    listed = {job["id"]: job for job in as_json(schedctl("list", "--state", state, "--json"))}
    nexts = by_labels(found, "schedctl_next_run_timestamp_seconds", "job_id")
    assert nexts == {(job,): datetime.fromisoformat(item["next_run_time"]).timestamp()
                     for job, item in listed.items() if item["next_run_time"]}
    assert ("held",) not in nexts and ("ok",) not in nexts  # paused
    paused = by_labels(found, "schedctl_job_paused", "job_id")
    assert {job for (job,), value in paused.items() if value} == {"held", *WANTED}
    assert set(by_labels(found, "schedctl_runs_in_progress", "job_id").values()) == {0}
    assert by_labels(found, "schedctl_build_info", "version")
    assert by_labels(found, "schedctl_alerts_total", "kind", "result")[("failure", "sent")] == 0

    # The same counts from the state file, as node_exporter's textfile collector reads them.
    offline = schedctl("metrics", "--state", state)
    assert offline.returncode == 0, offline.stderr
    assert by_labels(samples(offline.stdout), "schedctl_runs_total", "job_id", "outcome") == runs
    written = state.parent / "collector" / "schedctl.prom"
    written.parent.mkdir()
    assert schedctl("metrics", "--state", state, "-o", written).returncode == 0
    assert written.read_text() == offline.stdout
    assert written.stat().st_mode & 0o777 == 0o644 and os.listdir(written.parent) == [written.name]


def test_healthz_is_ok_then_503_while_the_database_is_unreachable(
    jobfile, scheduler, pg_url: str, postgres_server
) -> None:
    path = jobfile("jobs:\n  tick:\n    command: 'true'\n    interval: 1s\n")
    daemon = scheduler(path, "--state", pg_url, "--metrics", "127.0.0.1:0")
    health = metrics_url(daemon).replace("/metrics", "/healthz")
    assert fetch(health) == (200, "ok\n")
    postgres_server.pause()
    try:
        status, body = fetch(health)
    finally:
        postgres_server.resume()
    # The probe either times out itself or finds the scheduler's own query hung on the store.
    assert status == 503, body
    assert re.match(r"unhealthy: the state store (did not answer|is busy: a query has held it)",
                    body), body
    wait_until(lambda: fetch(health)[0] == 200, timeout=10, what="healthy again",
               context=daemon.log)


def test_healthz_is_503_while_the_disk_of_the_state_file_is_full(
    tmp_path: Path, jobfile, scheduler
) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        path = jobfile(f"state: {disk}/state.db\nmetrics:\n  listen: 127.0.0.1:0\n"
                       "jobs:\n  tick:\n    command: 'true'\n    interval: 0.2s\n")
        daemon = scheduler(path)  # listening as the jobfile says
        health = metrics_url(daemon).replace("/metrics", "/healthz")
        assert fetch(health) == (200, "ok\n")
        filler = fill(disk)
        try:
            wait_until(lambda: fetch(health)[0] == 503, timeout=10, what="503 from /healthz",
                       context=daemon.log)
            assert "the state store fails since" in fetch(health)[1]
            ran = daemon.log().count("tick: success")
            daemon.wait_for_log("tick: success", count=ran + 1)  # the jobs run on, from memory
        finally:
            filler.unlink()
            daemon.kill()


def test_a_node_labels_its_runs_and_metrics_shows_the_cluster(
    schedctl, jobfile, scheduler, pg_url: str
) -> None:
    path = jobfile("cluster:\n  node: alpha\njobs:\n  tick:\n    command: 'true'\n"
                   "    interval: 0.5s\n")
    daemon = scheduler(path, "--state", pg_url, "--metrics", "127.0.0.1:0")
    url = metrics_url(daemon)
    wait_until(lambda: by_labels(samples(fetch(url)[1]), "schedctl_runs_total",
                                 "job_id", "node", "outcome").get(("tick", "alpha", "success")),
               what="a success of tick on alpha", context=daemon.log)
    cluster = samples(as_text(schedctl("metrics", "--state", pg_url)))
    assert ("tick", "alpha", "success") in by_labels(cluster, "schedctl_runs_total",
                                                     "job_id", "node", "outcome")


def as_text(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nothing_listens_unless_asked_and_a_bad_address_is_refused(
    schedctl, jobfile, scheduler
) -> None:
    path = jobfile(JOBS)
    daemon = scheduler(path)
    assert "Serving metrics" not in daemon.log()
    assert not listening_sockets(daemon.pid)
    refused = schedctl("run", path, "--metrics", "9746")
    assert refused.returncode == 2 and "write :9746" in refused.stderr
    bad = jobfile(JOBS + "metrics:\n  listen: 127.0.0.1:http\n")
    checked = schedctl("validate", bad)
    assert checked.returncode == 2
    line = len(JOBS.splitlines()) + 2
    assert f"jobs.yaml:{line}:11: metrics.listen:" in checked.stderr, checked.stderr


def listening_sockets(pid: int) -> list[str]:
    """TCP sockets in LISTEN state (0A) that the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                listening.append(fields[1])
    return listening


def test_metrics_into_a_missing_directory_is_one_line_not_a_traceback(
    schedctl, state: Path, tmp_path: Path
) -> None:
    SQLiteJobStore(path=state).shutdown()
    written = tmp_path / "no-such-dir" / "schedctl.prom"
    result = schedctl("metrics", "--state", state, "-o", written)
    assert result.returncode == 1
    assert result.stderr == (f"schedctl: cannot write the metrics to {written}: the directory "
                             f"{written.parent} does not exist; create it or write elsewhere\n")


def test_a_taken_port_is_refused_before_the_state_changes_naming_where_it_was_given(
    schedctl, jobfile, state: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fix = (f"cannot serve metrics on 127.0.0.1:{port}: the port is in use by another "
               "process; stop it or choose another port\n")
        path = jobfile(JOBS)
        given = schedctl("run", path, "--metrics", f"127.0.0.1:{port}")
        assert (given.returncode, given.stderr) == (1, f"schedctl: --metrics: {fix}")
        path = jobfile(JOBS + f"metrics:\n  listen: 127.0.0.1:{port}\n")
        keyed = schedctl("run", path)
        line = len(JOBS.splitlines()) + 2
        assert (keyed.returncode, keyed.stderr) == (1, f"{path}:{line}:11: metrics.listen: {fix}")
    store = SQLiteJobStore(path=state)
    try:
        assert store.get_all_jobs() == []  # not synced: the refusal came first
    finally:
        store.shutdown()
