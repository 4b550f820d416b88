"""What ``--metrics`` costs: a ``schedctl run`` over 1,000 jobs, idle with and without it,
and the time of a scrape.

- Idle: two ``schedctl run`` processes start together on copies of one state (1,000
  jobs every 2 hours to every 3 weeks, none due while measured, each with three runs in
  its history), one with
  ``--metrics 127.0.0.1:0`` and one without. After they settle, the CPU time of each (all
  its threads, from ``/proc/PID/task/*/schedstat``, in nanoseconds) and its context
  switches are read over the same window: nobody scrapes, so this is what having metrics
  on costs between scrapes. Measured side by side, a busy machine slows both alike.
- Scrape: ``schedctl run --metrics`` over the same state; this process GETs ``/metrics``
  again and again over HTTP, one at a time: wall time of each, and the scheduler's CPU
  per scrape (``/proc/PID/stat``, request threads included). The first scrape, which
  writes every job's lines (later ones rewrite only the jobs that ran), is shown apart.

APScheduler has no metrics: its column is empty, and the comparison is metrics on
against metrics off.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, at_most, percentile
from bench.workloads._jobfiles import many_jobs, prepared_size
from bench.workloads._service import schedctl_command, stop_service
from bench.workloads.cli import _env

TITLE = "Metrics"
GOAL_SCRAPE_MS = 50.0
GOAL_IDLE_RATIO = 1.1
#: getrusage-grade noise: below this (0.005 % of a core), a difference says nothing.
IDLE_FLOOR_CPU_S_PER_MIN = 0.003
#: jobs, idle window (s), settling before it (s), idle repetitions, scrapes per repetition
_SIZES = {
    "full": (1000, 90.0, 3.0, 1, 50),
    "quick": (1000, 15.0, 3.0, 1, 20),
    "smoke": (50, 0.5, 0.2, 1, 3),
}
_SERVING = re.compile(r"Serving metrics on http://([\d.]+):(\d+)/metrics")


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    jobs, window, settle, idle_reps, scrapes = _SIZES[size.name]
    return [
        Case("metrics", "schedctl", "sqlite", "prepare", {"jobs": jobs}, setup=True),
        Case("metrics", "schedctl", "sqlite", "idle", {"window": window, "settle": settle},
             reps=idle_reps, timeout=window + 120),
        Case("metrics", "schedctl", "sqlite", "scrape", {"scrapes": scrapes}, timeout=300),
    ]


def run(case: Case, workdir: str) -> dict[str, Any]:
    where = Path(workdir)
    if case.name == "prepare":
        return _prepare(where, case.params["jobs"])
    if case.name == "idle":
        return _idle(where, case.params["window"], case.params["settle"])
    return _scrape(where, case.params["scrapes"])


# -- preparation (never timed) ----------------------------------------------------------------


def _jobfile_text(jobs: int) -> str:
    """``jobs`` jobs every 2 hours to every 3 weeks: none comes due while measured."""
    lines = ["jobs:", *many_jobs(jobs, lambda i: f"interval: {1 + i % 21}d")]
    return "\n".join(lines) + "\n"


def _prepare(workdir: Path, jobs: int) -> dict[str, Any]:
    """The jobfile, synced, with three runs of every job in the history."""
    from schedctl.jobfile.loader import load_jobfile
    from schedctl.jobstores.sqlite import SQLiteJobStore
    from schedctl.state.history import RunHistory, RunOutcome
    from schedctl.state.sync import sync_jobs

    jobfile = workdir / "metrics-jobs.yaml"
    jobfile.write_text(_jobfile_text(jobs))
    jobfile.chmod(0o600)
    store = SQLiteJobStore(path=str(workdir / "metrics-prepared.db"))
    now = datetime.now(UTC)
    report = sync_jobs(load_jobfile(jobfile), store, now)
    history = RunHistory(store)
    for job in store.get_all_jobs():
        for hours, state in ((3, "success"), (2, "failed"), (1, "success")):
            slot = now - timedelta(hours=hours)
            history.started(job.id, slot, at=slot + timedelta(seconds=0.05), owner="bench/1")
            history.finished(job.id, slot, RunOutcome(state, slot + timedelta(seconds=2.5),
                                                      exit_code=0 if state == "success" else 1),
                             owner="bench/1")
    store.shutdown()
    return {"jobs": len(report.added)}


def _start(workdir: Path, name: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    state = workdir / f"metrics-{name}.db"
    shutil.copyfile(workdir / "metrics-prepared.db", state)
    log = workdir / f"metrics-{name}.log"
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [*schedctl_command(), "run", "--state", str(state), *extra,
             str(workdir / "metrics-jobs.yaml")],
            env=_env(workdir), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            start_new_session=True)
    return daemon, log


def _wait_started(daemon: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "schedctl started" in text:
            return text
        if daemon.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"schedctl run did not start:\n{log.read_text(errors='replace')[-2000:]}")


# -- idle ---------------------------------------------------------------------------------------


def _task_totals(pid: int) -> tuple[int, int]:
    """(CPU ns, context switches) over every thread of ``pid`` alive now."""
    cpu = switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu += int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
        switches += sum(int(line.split()[1]) for line in status.splitlines()
                        if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    return cpu, switches


def _idle(workdir: Path, window: float, settle: float) -> dict[str, Any]:
    daemons = {"off": _start(workdir, "off"),
               "on": _start(workdir, "on", "--metrics", "127.0.0.1:0")}
    try:
        for daemon, log in daemons.values():
            _wait_started(daemon, log)
        time.sleep(settle)
        before = {name: _task_totals(d.pid) for name, (d, _) in daemons.items()}
        started = time.perf_counter()
        time.sleep(window)
        after = {name: _task_totals(d.pid) for name, (d, _) in daemons.items()}
        per_min = 60 / (time.perf_counter() - started)
    finally:
        for daemon, _ in daemons.values():
            stop_service(daemon)
    result: dict[str, Any] = {"window_s": window}
    for name in daemons:
        result[f"{name}_cpu_s_per_min"] = (after[name][0] - before[name][0]) / 1e9 * per_min
        result[f"{name}_ctx_switches_per_min"] = (after[name][1] - before[name][1]) * per_min
    return result


# -- scrapes ------------------------------------------------------------------------------------


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _scrape(workdir: Path, scrapes: int) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    daemon, log = _start(workdir, "scrape", "--metrics", "127.0.0.1:0")
    try:
        match = _SERVING.search(_wait_started(daemon, log))
        if match is None:
            raise RuntimeError("schedctl run did not say where it serves metrics")
        host, port = match.group(1), int(match.group(2))
        started = time.perf_counter()
        body = _get(host, port)  # the first: every job's lines written from nothing
        first_ms = (time.perf_counter() - started) * 1000
        families = text_string_to_metric_families(body.decode())
        samples = sum(len(family.samples) for family in families)
        times: list[float] = []
        cpu = _process_cpu_s(daemon.pid)
        for _ in range(scrapes):
            started = time.perf_counter()
            _get(host, port)
            times.append((time.perf_counter() - started) * 1000)
        cpu = _process_cpu_s(daemon.pid) - cpu
    finally:
        stop_service(daemon)
    return {
        "scrapes": scrapes, "samples": samples, "bytes": len(body), "first_scrape_ms": first_ms,
        "scrape_p50_ms": statistics.median(times), "scrape_p95_ms": percentile(times, 95),
        "scrape_max_ms": max(times), "cpu_ms_per_scrape": cpu / scrapes * 1000,
    }


def _get(host: str, port: int) -> bytes:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
        return body
    finally:
        conn.close()


# -- the table ----------------------------------------------------------------------------------


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    def ours(name: str, metric: str) -> Value:
        return results.value(name, "schedctl", "sqlite", metric)

    sized = prepared_size(results)
    none = Value(None)
    off, on = ours("idle", "off_cpu_s_per_min"), ours("idle", "on_cpu_s_per_min")
    off_row = Row(TITLE, f"idle CPU, schedctl run over {sized}, metrics off", "CPU-s/min",
                  off, none)
    on_row = Row(TITLE, "idle CPU, same, --metrics on (no scrape)", "CPU-s/min", on, none,
                 goal=f"≤ {GOAL_IDLE_RATIO:g}× metrics off")
    on_row.met = _within(on, off)
    ratio = Value(None if on.number is None or not off.number else on.number / off.number)
    if off.number == 0 and on.number is not None:
        ratio = Value(None, "— (off: 0)")  # a window too short to see any CPU
    ratio_row = Row(TITLE, "idle CPU, metrics on ÷ off", "x", ratio, none)
    ratio_row.note = (f"side by side over one window; a difference under "
                      f"{IDLE_FLOOR_CPU_S_PER_MIN:g} CPU-s/min is noise and counts as met")
    switches = [
        Row(TITLE, f"context switches (all threads), metrics {name}", "/min",
            ours("idle", f"{name}_ctx_switches_per_min"), none)
        for name in ("off", "on")
    ]
    p50 = ours("scrape", "scrape_p50_ms")
    scrape_row = Row(TITLE, f"scrape of /metrics over {sized}, p50", "ms", p50, none,
                     goal=f"< {GOAL_SCRAPE_MS:g} ms")
    scrape_row.met = at_most(p50, GOAL_SCRAPE_MS - 1e-9)
    samples = next((r.get("samples") for r in results.reps("scrape", "schedctl", "sqlite")), None)
    if samples:
        scrape_row.note = f"{samples:,} samples; HTTP GET over loopback, from request to last byte"
    rows = [off_row, on_row, ratio_row, *switches, scrape_row,
            Row(TITLE, "scrape, p95", "ms", ours("scrape", "scrape_p95_ms"), none),
            Row(TITLE, "first scrape after start (nothing kept yet)", "ms",
                ours("scrape", "first_scrape_ms"), none),
            Row(TITLE, "scrape, scheduler CPU per scrape", "ms",
                ours("scrape", "cpu_ms_per_scrape"), none)]
    rows[0].note = "APScheduler has no metrics (—): metrics on is compared with metrics off"
    return rows


def _within(on: Value, off: Value) -> bool | None:
    if on.number is None or off.number is None:
        return None
    return (on.number <= off.number * GOAL_IDLE_RATIO
            or on.number - off.number <= IDLE_FLOOR_CPU_S_PER_MIN)
