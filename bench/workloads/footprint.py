"""Footprint: what ``schedctl run`` costs the machine when idle, and after many runs.

- idle: ``schedctl run`` on a copy of ``jobs.example.yaml`` (every feature: metrics, a
  process pool, alerts, pings; the metrics listen on a socket in the work directory
  instead of the example's port). After it has started and settled: resident memory
  (``VmRSS``) and CPU seconds per minute over a window. APScheduler has no service;
  its column is a process with a ``BackgroundScheduler`` holding as many jobs (what
  any program using it carries), for scale.
- runs: ``schedctl run`` on a jobfile of 200 ``true`` jobs every second. RSS once 1,000
  runs have ended, once 20,000 have (SQLite's page cache, 2 MB, fills as the history
  grows, and the interpreter's arenas with it), and after 10,000 more: that last
  growth must be nil, give or take the allocator.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, at_most
from bench.workloads._jobfiles import every_second

TITLE = "Footprint"
GOAL_IDLE_RSS_MB = 30.0
GOAL_GROWTH_MB = 1.0
ROOT = Path(__file__).resolve().parent.parent.parent
#: idle window s; runs: jobs every second, runs before the first reading, runs in all
_SIZES = {"full": (20.0, (200, 20_000, 30_000)), "quick": (5.0, (200, 2_000, 4_000)),
          "smoke": (1.0, (20, 40, 80))}
_FIRST = 1_000  # runs at the first reading (fewer in a smoke run)


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    window, (jobs, warm, total) = _SIZES[size.name]
    out = [Case("footprint", "schedctl", "sqlite", "idle", {"window": window}, timeout=120),
           # One repetition: 30,000 runs take 150 s, and one long run shows growth best.
           Case("footprint", "schedctl", "sqlite", "runs",
                {"jobs": jobs, "warm": warm, "total": total}, timeout=total / jobs * 3 + 120,
                reps=1)]
    if "apscheduler" in libs:
        out.append(Case("footprint", "apscheduler", "memory", "idle", {"window": window},
                        timeout=120))
    return out


def run(case: Case, workdir: str) -> dict[str, Any]:
    work = Path(workdir)
    if case.lib == "apscheduler":
        return _aps_idle(case.params["window"])
    if case.name == "idle":
        return _idle(work, case.params["window"])
    return _runs(work, **case.params)


def _example(work: Path) -> Path:
    text = (ROOT / "jobs.example.yaml").read_text()
    socket = work / f"metrics-{os.getpid()}.sock"
    text = re.sub(r"(?m)^(  listen:) .*$", rf"\1 {socket}", text)
    path = work / f"footprint-example-{os.getpid()}.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def _idle(work: Path, window: float) -> dict[str, Any]:
    with _service(work, _example(work)) as daemon:
        daemon.wait_started()
        time.sleep(1.0)  # the runs due at start (the @reboot job) end
        cpu0, started = daemon.cpu_s(), time.perf_counter()
        time.sleep(window)
        cpu = daemon.cpu_s() - cpu0
        return {"rss_mb": daemon.rss_mb(), "threads": daemon.threads(),
                "cpu_s_per_min": cpu * 60 / (time.perf_counter() - started), "window_s": window}


def _runs(work: Path, jobs: int, warm: int, total: int) -> dict[str, Any]:
    path = every_second(work / f"footprint-runs-{os.getpid()}.yaml", jobs, "t")
    with _service(work, path) as daemon:
        daemon.wait_started()
        first = min(_FIRST, warm // 2)
        daemon.wait_runs(first, timeout=first / jobs * 3 + 30)
        rss_first = daemon.rss_mb()
        daemon.wait_runs(warm, timeout=warm / jobs * 3 + 30)
        rss_warm, cpu0, runs0 = daemon.rss_mb(), daemon.cpu_s(), daemon.runs()
        daemon.wait_runs(total, timeout=total / jobs * 3 + 30)
        rss_end, cpu, runs = daemon.rss_mb(), daemon.cpu_s() - cpu0, daemon.runs() - runs0
    return {"rss_first_mb": rss_first, "rss_warm_mb": rss_warm, "rss_end_mb": rss_end,
            "warm_up_mb": rss_warm - rss_first, "growth_mb": rss_end - rss_warm,
            "first": first, "runs": runs0 + runs, "warm": runs0, "jobs": jobs,
            "cpu_ms_per_run": cpu * 1000 / max(runs, 1)}


class _Daemon:
    def __init__(self, proc: subprocess.Popen[bytes], state: Path, log: Path) -> None:
        self.proc, self.state, self.log = proc, state, log

    def wait_started(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "schedctl started" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"schedctl run did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def runs(self) -> int:
        conn = sqlite3.connect(f"file:{self.state}?mode=ro", uri=True)
        try:
            return int(conn.execute(
                "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0])
        finally:
            conn.close()

    def wait_runs(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.runs() < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.runs()} of {count} runs:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def _status(self, key: str) -> str:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return line.split()[1]
        raise RuntimeError(f"no {key} in /proc/{self.proc.pid}/status")

    def rss_mb(self) -> float:
        return int(self._status("VmRSS")) / 1024

    def threads(self) -> int:
        return int(self._status("Threads"))

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> _Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _service(work: Path, jobfile: Path) -> _Daemon:
    state = work / f"{jobfile.stem}.db"
    log = work / f"{jobfile.stem}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDCTL_", "NOTIFY_"))}
    env["XDG_STATE_HOME"] = str(work / "xdg-state")
    schedctl = Path(sys.executable).parent / "schedctl"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(schedctl), "run", "--state", str(state), str(jobfile)],
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    return _Daemon(proc, state, log)


#: A process of its own, as the service is (this child has imported SQLAlchemy to warm up).
_APS_PROGRAM = """
import time
from apscheduler.schedulers.background import BackgroundScheduler
scheduler = BackgroundScheduler(timezone="UTC")
scheduler.start()
for i in range(16):  # as many jobs as jobs.example.yaml has
    scheduler.add_job(print, "interval", hours=1, id=f"j{i}")
print("ready", flush=True)
time.sleep(3600)
"""


def _aps_idle(window: float) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-c", _APS_PROGRAM], stdout=subprocess.PIPE)
    daemon = _Daemon(proc, Path("/nonexistent"), Path("/nonexistent"))
    with daemon:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(1.0)
        cpu0, started = daemon.cpu_s(), time.perf_counter()
        time.sleep(window)
        cpu = daemon.cpu_s() - cpu0
        return {"rss_mb": daemon.rss_mb(),
                "cpu_s_per_min": cpu * 60 / (time.perf_counter() - started)}


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    def ours(name: str, metric: str) -> Value:
        return results.value(name, "schedctl", "sqlite", metric)

    def theirs(metric: str) -> Value:
        return results.value("idle", "apscheduler", "memory", metric)

    rss = Row(TITLE, "idle RSS, schedctl run on jobs.example.yaml (APScheduler: a process "
              "with 16 jobs)", "MB", ours("idle", "rss_mb"), theirs("rss_mb"),
              goal=f"≤ {GOAL_IDLE_RSS_MB:g} MB")
    rss.met = at_most(rss.schedctl, GOAL_IDLE_RSS_MB)
    cpu = Row(TITLE, "idle CPU, same", "s/min", ours("idle", "cpu_s_per_min"),
              theirs("cpu_s_per_min"))
    reps = results.reps("runs", "schedctl", "sqlite")
    rep0 = reps[0] if reps else {}
    total, warm, first = rep0.get("runs") or 0, rep0.get("warm") or 0, rep0.get("first") or 0
    warm_up = Row(TITLE, f"RSS growth from {first:,} to {warm:,} runs ({rep0.get('jobs', 0)} "
                  "`true` jobs every 1 s; caches filling)", "MB", ours("runs", "warm_up_mb"),
                  Value(None))
    growth = Row(TITLE, f"RSS growth from {warm:,} to {total:,} runs", "MB",
                 ours("runs", "growth_mb"), Value(None), goal=f"≤ {GOAL_GROWTH_MB:g} MB")
    growth.met = at_most(growth.schedctl, GOAL_GROWTH_MB)
    end = Row(TITLE, f"RSS after {total:,} runs", "MB", ours("runs", "rss_end_mb"), Value(None))
    per_run = Row(TITLE, "CPU of schedctl run per run of `true` (its own process)", "ms",
                  ours("runs", "cpu_ms_per_run"), Value(None))
    return [rss, cpu, warm_up, growth, end, per_run]
