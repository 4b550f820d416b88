"""The command line: fresh ``schedctl`` processes, as an operator or a script starts them.

Every figure is the wall time of a new process, from spawning it to its exit (the
installed ``schedctl`` script, output to a pipe), median of several, after one untimed
run. Bytecode is cached as on an installed system (pip compiles site-packages): the
processes write it under the work directory (``PYTHONPYCACHEPREFIX``), even where
``PYTHONDONTWRITEBYTECODE`` is set, so an editable schedctl is not compiled from source
at every start while APScheduler, click and rich load their compiled files.

- ``schedctl --help``: the cost of starting at all. APScheduler has no command line;
  its column is ``python -c "import apscheduler.schedulers.blocking"``, what any
  script using it pays before doing anything.
- ``schedctl list --state S`` over a state file with 1,000 jobs (made once, untimed,
  by ``load_jobfile`` + ``sync_jobs``, as ``schedctl run`` does), table and ``--json``.
- ``schedctl pause tick --state S`` while ``schedctl run --log-format json`` runs on
  that state, and how long until the scheduler obeys: ``tick`` runs ``true`` every
  0.1 s, and the delay is from just before ``pause`` is invoked to the last ``started``
  event of ``tick`` in the scheduler's JSON log (0 when it never starts again), watched
  until well past the 1 s bound. A run that starts late in the watch means the pause
  was not obeyed. Between rounds ``resume`` restarts it (its delay to the first run is
  kept in the JSON too).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Case, Results, Row, Size, Value, at_most
from bench.workloads._jobfiles import many_jobs, prepared_size
from bench.workloads._service import schedctl_command, stop_service

TITLE = "CLI"
GOAL_LIST_MS = 120.0
GOAL_OBEY_MS = 1000.0
TICK = "tick"
TICK_INTERVAL = 0.1
#: jobs in the state, fresh processes per figure, pause rounds, watch after each pause (s)
_SIZES = {
    "full": (1000, 7, 5, 1.5),
    "quick": (1000, 5, 3, 1.5),
    "smoke": (50, 2, 1, 0.5),
}
#: Variables that would change what the command does (another state file, systemd, journald).
_SCRUBBED = ("SCHEDCTL_STATE", "SCHEDCTL_JOBFILE", "SCHEDCTL_METRICS", "NOTIFY_SOCKET",
             "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID", "LISTEN_FDS",
             "LISTEN_PID")
_APS_IMPORT = "import apscheduler.schedulers.blocking"


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    jobs, samples, rounds, watch = _SIZES[size.name]
    out = [Case("cli", "schedctl", "sqlite", "prepare", {"jobs": jobs}, setup=True)]
    out += [Case("cli", lib, "sqlite", "startup", {"samples": samples}) for lib in libs]
    out.append(Case("cli", "schedctl", "sqlite", "pause",
                    {"rounds": rounds, "watch": watch}, timeout=60 + rounds * (watch + 10)))
    return out


def run(case: Case, workdir: str) -> dict[str, Any]:
    if case.name == "prepare":
        return _prepare(Path(workdir), case.params["jobs"])
    if case.name == "startup":
        return _startup(case, Path(workdir))
    return _pause(case, Path(workdir))


# -- preparation (never timed) ----------------------------------------------------------------


def _jobfile_text(jobs: int) -> str:
    """``tick`` plus ``jobs`` hourly-to-daily jobs, half cron, half interval, none due soon."""
    lines = ["jobs:", f"  {TICK}:", '    command: "true"', f"    interval: {TICK_INTERVAL}s"]
    lines += many_jobs(jobs, lambda i: f'cron: "{i % 60} {i % 24} * * *"')
    return "\n".join(lines) + "\n"


def _prepare(workdir: Path, jobs: int) -> dict[str, Any]:
    from schedctl.jobfile.loader import load_jobfile
    from schedctl.jobstores.sqlite import SQLiteJobStore
    from schedctl.state.sync import sync_jobs

    jobfile = workdir / "cli-jobs.yaml"
    jobfile.write_text(_jobfile_text(jobs))
    jobfile.chmod(0o600)  # run as root, schedctl refuses a jobfile others may write
    store = SQLiteJobStore(path=str(_prepared(workdir)))
    report = sync_jobs(load_jobfile(jobfile), store, datetime.now(UTC))
    store.shutdown()
    return {"jobs": jobs, "jobs_in_state": len(report.added)}  # tick is the one more


def _prepared(workdir: Path) -> Path:
    return workdir / "cli-prepared.db"


def _fresh_state(workdir: Path, name: str) -> Path:
    path = workdir / f"cli-{name}-{os.getpid()}.db"
    shutil.copyfile(_prepared(workdir), path)
    return path


# -- starting, listing ---------------------------------------------------------------------------


def _startup(case: Case, workdir: Path) -> dict[str, Any]:
    """Interleaved samples: ``--help``, ``list``, ``list --json`` (APScheduler: its import)."""
    env = _env(workdir)
    commands: dict[str, list[str]]
    if case.lib == "schedctl":
        state = str(_fresh_state(workdir, "list"))
        commands = {
            "help": [*schedctl_command(), "--help"],
            "list": [*schedctl_command(), "list", "--state", state],
            "list_json": [*schedctl_command(), "list", "--state", state, "--json"],
        }
    else:
        commands = {"help": [sys.executable, "-c", _APS_IMPORT]}
    commands["python"] = [sys.executable, "-c", "pass"]  # the interpreter's own start
    for argv in commands.values():
        _timed(argv, env)  # untimed: writes the bytecode cache, warms the page cache
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(case.params["samples"]):
        for name, argv in commands.items():
            elapsed, out = _timed(argv, env)
            samples[name].append(elapsed * 1000)
            if name == "list" and out.count("\n") < 2:
                raise RuntimeError(f"schedctl list printed too little:\n{out[:2000]}")
    result: dict[str, Any] = {f"{name}_ms": statistics.median(v) for name, v in samples.items()}
    result["samples"] = {name: [round(x, 1) for x in v] for name, v in samples.items()}
    result["argv0"] = commands["help"][0]
    return result


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def _env(workdir: Path) -> dict[str, str]:
    scrubbed = (*_SCRUBBED, "PYTHONDONTWRITEBYTECODE")
    env = {key: value for key, value in os.environ.items() if key not in scrubbed}
    env["XDG_STATE_HOME"] = str(workdir / "xdg-state")
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


# -- pausing a running scheduler ----------------------------------------------------------------


class _Log:
    """The scheduler's JSON log on stderr, read as it grows: ``started`` times per job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.starts: dict[str, list[float]] = {}
        self.lines: list[str] = []

    def poll(self) -> _Log:
        with open(self.path, "rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "started":
                when = datetime.fromisoformat(record["time"]).timestamp()
                self.starts.setdefault(record.get("job_id", ""), []).append(when)
        return self

    def tick_starts(self, after: float) -> list[float]:
        return [t for t in self.starts.get(TICK, []) if t >= after]

    def tail(self) -> str:
        return "\n".join(self.lines[-30:])


def _wait(predicate: Any, timeout: float, what: str, log: _Log) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}:\n{log.tail()}")
        time.sleep(0.01)


def _pause(case: Case, workdir: Path) -> dict[str, Any]:
    rounds, watch = case.params["rounds"], case.params["watch"]
    env = _env(workdir)
    state = str(_fresh_state(workdir, "pause"))
    log_path = workdir / f"cli-run-{os.getpid()}.log"
    argv = [*schedctl_command(), "run", "--log-format", "json", "--state", state,
            str(workdir / "cli-jobs.yaml")]
    for command in ("pause", "resume"):  # untimed: imports (and caches) what they need
        _timed([*schedctl_command(), command, "--help"], env)
    spawned = time.time()
    with open(log_path, "wb") as stderr:
        daemon = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    log = _Log(log_path)
    try:
        _wait(lambda: log.poll().tick_starts(spawned) or daemon.poll() is not None, 60,
              "the first run of tick", log)
        if daemon.poll() is not None:
            raise RuntimeError(f"schedctl run exited with {daemon.returncode}:\n{log.tail()}")
        first_run_s = log.tick_starts(spawned)[0] - spawned
        rounds_out = [_pause_round(log, env, state, watch, last=i == rounds - 1)
                      for i in range(rounds)]
    finally:
        stop_service(daemon)
    pause_ms = [r["pause_ms"] for r in rounds_out]
    obeyed = [r["obey_ms"] for r in rounds_out if r["obey_ms"] is not None]
    result: dict[str, Any] = {
        "pause_ms": statistics.median(pause_ms),
        "obey_ms": statistics.median(obeyed) if len(obeyed) == len(rounds_out) else None,
        "obey_ms_max": max(obeyed) if obeyed else None,
        "not_obeyed": len(rounds_out) - len(obeyed),
        "starts_after_pause_returned": sum(r["starts_after_return"] for r in rounds_out),
        "watch_s": watch,
        "run_to_first_tick_s": first_run_s,
        "rounds": rounds_out,
    }
    resumes = [r["resume_obey_ms"] for r in rounds_out if "resume_obey_ms" in r]
    if resumes:
        result["resume_obey_ms"] = statistics.median(resumes)
    return result


def _pause_round(log: _Log, env: dict[str, str], state: str, watch: float, *,
                 last: bool) -> dict[str, Any]:
    # Paused only while tick is running: it has started within the last two intervals.
    _wait(lambda: log.poll().tick_starts(time.time() - 2 * TICK_INTERVAL), 10,
          "tick to be running", log)
    invoked = time.time()
    elapsed, out = _timed([*schedctl_command(), "pause", TICK, "--state", state], env)
    returned = time.time()
    if out.strip() != f"{TICK}: paused":
        raise RuntimeError(f"schedctl pause printed {out!r}")
    time.sleep(max(0.0, returned + watch - time.time()))
    starts = log.poll().tick_starts(invoked)
    # Still starting near the end of the watch: the pause has not taken.
    obeyed = not any(t > returned + watch - 2 * TICK_INTERVAL for t in starts)
    obey_ms = None
    if obeyed:
        obey_ms = (max(starts) - invoked) * 1000 if starts else 0.0
    out_round: dict[str, Any] = {
        "pause_ms": elapsed * 1000,
        "obey_ms": obey_ms,
        "starts_after_invoke": len(starts),
        "starts_after_return": sum(t > returned for t in starts),
    }
    if not last:
        resumed = time.time()
        _timed([*schedctl_command(), "resume", TICK, "--state", state], env)
        _wait(lambda: log.poll().tick_starts(resumed), 10, "tick to run again after resume", log)
        out_round["resume_obey_ms"] = (log.tick_starts(resumed)[0] - resumed) * 1000
    return out_round


# -- the table -----------------------------------------------------------------------------------


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    def ours(name: str, metric: str) -> Value:
        return results.value(name, "schedctl", "sqlite", metric)

    sized = prepared_size(results)
    none = Value(None)
    help_row = Row(TITLE, "schedctl --help", "ms", ours("startup", "help_ms"),
                   results.value("startup", "apscheduler", "sqlite", "help_ms"))
    if "apscheduler" in libs:
        help_row.note = (f"APScheduler has no CLI: its column is `python -c \"{_APS_IMPORT}\"`; "
                         "a bare `python -c pass` takes "
                         f"{_shown(ours('startup', 'python_ms'))} on this machine")
    list_row = Row(TITLE, f"schedctl list over {sized}", "ms", ours("startup", "list_ms"), none,
                   goal=f"< {GOAL_LIST_MS:g} ms")
    list_row.met = at_most(list_row.schedctl, GOAL_LIST_MS - 1e-9)
    json_row = Row(TITLE, f"schedctl list --json over {sized}", "ms",
                   ours("startup", "list_json_ms"), none)
    pause_row = Row(TITLE, f"schedctl pause, scheduler running over {sized}", "ms",
                    ours("pause", "pause_ms"), none)
    obey = ours("pause", "obey_ms")
    reps = results.reps("pause", "schedctl", "sqlite")
    if obey.number is None and reps:
        obey = Value(None, f">{reps[0].get('watch_s', 0):g} s (not obeyed)")
    obey_row = Row(TITLE, "pause obeyed: invoking pause → last run start", "ms", obey, none,
                   goal=f"≤ {GOAL_OBEY_MS / 1000:g} s")
    obey_row.met = None if not reps else obey.number is not None and obey.number <= GOAL_OBEY_MS
    obey_row.note = (f"tick runs every {TICK_INTERVAL:g} s, the resolution of this figure; "
                     "0 = it never started again once pause was invoked")
    return [help_row, list_row, json_row, pause_row, obey_row]


def _shown(value: Value) -> str:
    return "?" if value.number is None else f"{value.number:.0f} ms"
