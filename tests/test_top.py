"""``schedctl top`` below the terminal: the live rows a running scheduler publishes (real
processes, a real state file), the frame drawn from a top view, and what job output may
not do to the screen. The terminal itself is tested through tmux in tests/cli/test_top.py."""

from __future__ import annotations

import dataclasses
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from schedctl.cli.topframe import last_lines, printable, render_frame
from schedctl.commands.processes import ProcessRegistry
from schedctl.commands.runner import run_command
from schedctl.commands.spec import CommandSpec
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.service.live import LivePublisher
from schedctl.state.history import RunHistory, RunOutcome, RunRecord
from schedctl.state.live import LiveRun, live_runs
from schedctl.state.topview import TopView
from schedctl.state.views import JobView

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WAIT = 10.0


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteJobStore(path=tmp_path / "state.db")
    yield store
    store.shutdown()


# -- publishing the runs going on ------------------------------------------------------------------

def test_the_publisher_writes_each_running_commands_pid_and_output(store, tmp_path) -> None:
    history = RunHistory(store)
    history.started("backup", T0, at=T0, owner="h/1", attempt=2)
    registry = ProcessRegistry()
    gate = tmp_path / "gate"
    spec = CommandSpec(f"echo copying; echo 'still copying'; while [ ! -e {gate} ]; do sleep 0.05; done")
    results = []
    worker = threading.Thread(target=lambda: results.append(run_command(
        spec, job_id="backup", registry=registry, run=(T0, 2))))
    worker.start()
    try:
        publisher = LivePublisher(store, "h/1", registry)
        deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
        while True:  # until the command has printed both lines and they are published
            publisher.publish()
            [run] = live_runs(store)
            if "still copying" in run.output or datetime.now(UTC) > deadline:
                break
            threading.Event().wait(0.05)
        [(command, _)] = registry.runs()
        assert (run.job_id, run.attempt, run.pid) == ("backup", 2, command.pid)
        assert run.output == "copying\nstill copying\n"
    finally:
        gate.touch()
        worker.join(WAIT)
    assert results and results[0].ok
    history.finished("backup", T0, RunOutcome("success", T0, output="done\n", attempt=2),
                     owner="h/1")
    assert live_runs(store) == []
    [record] = history.runs("backup")
    assert record.output == "done\n"  # the end replaces the output so far


def test_the_publisher_never_writes_a_run_of_another_owner(store, tmp_path) -> None:
    RunHistory(store).started("backup", T0, at=T0, owner="other/7")
    registry = ProcessRegistry()
    gate = tmp_path / "gate"
    spec = CommandSpec(f"echo mine; while [ ! -e {gate} ]; do sleep 0.05; done")
    worker = threading.Thread(target=lambda: run_command(
        spec, job_id="backup", registry=registry, run=(T0, 1)))
    worker.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
        while not any("mine" in c.output_so_far() for c, _ in registry.runs()):
            assert datetime.now(UTC) < deadline, "the command never printed"
            threading.Event().wait(0.05)
        LivePublisher(store, "h/1", registry).publish()  # h/1 does not own other/7's run
    finally:
        gate.touch()
        worker.join(WAIT)
    [run] = live_runs(store)
    assert (run.pid, run.output) == (None, "")
    # The run never ends here; its claim is the process's (one process, one node) and would
    # make a later test's start of ("backup", T0) look claimed already.
    store.claims.release("backup", T0)


# -- the frame ----------------------------------------------------------------------------------

def record(job_id: str, state: str, minutes: int, **more) -> RunRecord:
    at = T0 - timedelta(minutes=minutes)
    fields = {"run_id": minutes, "job_id": job_id, "scheduled_for": at, "attempt": 1,
              "state": state, "reason": "schedule", "owner": "h/1", "started_at": at,
              "finished_at": at, "duration": 1.5, "exit_code": None, "signal": None,
              "error": None, "output": None}
    fields.update(more)
    return RunRecord(**fields)


def job(job_id: str, minutes: int) -> JobView:
    return JobView(id=job_id, description=None, trigger="interval[1:00:00]", schedule="every hour",
                   timezone="UTC", next_run_time=T0 + timedelta(minutes=minutes),
                   state="scheduled", last_run=None, action="true", kind="command", env_names=[],
                   executor="default")


def frame_text(view: TopView, *, width: int = 80, height: int = 24) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, height=height, color_system=None).print(
        render_frame(view, T0, height=height, unicode=True))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def view(runs: list[LiveRun], *, upcoming: int = 3, latest: int = 3) -> TopView:
    return TopView(
        state_path="/var/lib/schedctl/jobs.db", running=True, heartbeat_at=T0, jobs=40,
        runs=runs, attempts={"backup": 3},
        upcoming=[job(f"job-{n}", 5 * (n + 1)) for n in range(upcoming)],
        latest=[record("report", "failed", n + 1, exit_code=3, error="disk full")
                for n in range(latest)],
    )


def live(job_id: str, output: str, *, attempt: int = 2, pid: int = 4242) -> LiveRun:
    return LiveRun(job_id, T0, attempt, T0 - timedelta(seconds=75), pid, output, "h/1",
                   "schedule")


def test_the_frame_shows_each_running_attempt_with_its_last_lines() -> None:
    lines = frame_text(view([live("backup", "one\ntwo\nthree\nfour\n")]))
    [row] = [line for line in lines if line.startswith("backup")]
    assert row.split()[:4] == ["backup", "2/3", "1m15s", "4242"] and row.endswith("two")
    assert any(line.strip() == "four" for line in lines)
    assert not any(line.strip() == "one" for line in lines)  # only the last three lines
    assert [line for line in lines if line in ("NEXT", "LATEST")] == ["NEXT", "LATEST"]
    assert any(line.startswith("job-0") and "in 5m" in line for line in lines)
    assert any(line.startswith("report") and "✘ failed exit 3 - disk full (1.5s)" in line
               for line in lines)


def test_the_frame_fits_80_columns_and_the_height_whatever_it_holds() -> None:
    runs = [live(f"a-job-with-a-rather-long-name-{n}", "x" * 300 + "\n", pid=10_000 + n)
            for n in range(12)]
    lines = frame_text(view(runs, upcoming=30, latest=30), height=24)
    assert len(lines) <= 24
    assert max(cell_len(line) for line in lines) <= 80
    assert lines[-1] == "q quit"


def test_job_output_cannot_drive_the_terminal() -> None:
    nasty = "ok\x1b[2J\x1b]0;title\x07\rcarriage\u2028sep\u202eright-to-left\ttab\n"
    assert printable(nasty) == "ok?[2J?]0;title??carriage?sep?right-to-left tab?"
    assert last_lines(nasty, 3) == ["ok?[2J?]0;title?", "carriage?sep?right-to-left tab"]
    text = "\n".join(frame_text(view([live("backup", nasty)])))
    assert "\x1b" not in text and "\u202e" not in text


def test_a_long_outcome_is_cut_before_the_job_ids_and_times_beside_it() -> None:
    """A skipped run's long reason once squeezed LATEST's JOB and ENDED columns at 80
    columns down to 'heartb…' and '10s a…'."""
    latest = [record("disk-usage", "skipped", 1, error="the previous run was still going "
                     "(max_instances reached) " * 3),
              record("heartbeat", "success", 2, exit_code=0)]
    shown = dataclasses.replace(view([live("weekday-backup", "x" * 200 + "\n")]), latest=latest)
    lines = frame_text(shown)
    assert max(cell_len(line) for line in lines) <= 80
    assert any(line.startswith("weekday-backup ") for line in lines)
    [skipped] = [line for line in lines if line.startswith("disk-usage ")]
    assert skipped.split()[1:3] == ["1m", "ago"], skipped
    assert any(line.startswith("heartbeat ") and " 2m ago " in line for line in lines)
