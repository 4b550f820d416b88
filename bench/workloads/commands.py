"""Command runs: how close does schedctl's command runner come to a bare subprocess loop?

Runs of ``true``, three ways, in one process:

- plain: ``subprocess.run(["true"])``, the physical limit on this machine;
- run_command: ``schedctl.commands.runner.run_command(CommandSpec(("true",)), job_id=...)``:
  a session and process group of its own, the output pipe and a pidfd polled, a result;
- run_command_job: ``schedctl.commands.jobrunner.run_command_job``, the function the scheduler
  calls for a ``command:`` job (spec as JSON, per-run environment, retry loop), inside a
  run context as a worker thread has one.

The three are interleaved in batches (each round runs one batch of each, in rotating
order), so a machine that slows down mid-run hurts all alike. Runs per second is the
median over batches; the ratio to the plain loop is the median of the per-round ratios.
APScheduler has no command runner: its column stays empty.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.harness import Case, Results, Row, Size, Value

TITLE = "Commands"
#: Runs per second, as a share of the plain loop's.
GOALS = {"run_command": 0.95, "run_command_job": 0.9}
#: runs per way, runs per batch
#: (small batches pair the three ways closely in time: the ratio is steadiest at 10)
_SIZES = {"full": (1000, 10), "quick": (200, 10), "smoke": (15, 5)}
_WARMUP_RUNS = 5
_WAYS = ("plain", "run_command", "run_command_job")
_ARGV = ("true",)
_JOB_ID = "bench-true"


def cases(size: Size, libs: tuple[str, ...]) -> list[Case]:
    runs, batch = _SIZES[size.name]
    return [Case("commands", "schedctl", "none", "true", {"runs": runs, "batch": batch})]


def run(case: Case, workdir: str) -> dict[str, Any]:
    runs, batch = case.params["runs"], case.params["batch"]
    ways = _ways()
    for way in ways.values():
        way(_WARMUP_RUNS)
    rates: dict[str, list[float]] = {name: [] for name in _WAYS}
    cpu_us: dict[str, list[float]] = {name: [] for name in _WAYS}
    ratios: dict[str, list[float]] = {name: [] for name in _WAYS if name != "plain"}
    for round_no in range(max(1, runs // batch)):
        shift = round_no % len(_WAYS)
        rate: dict[str, float] = {}
        for name in _WAYS[shift:] + _WAYS[:shift]:
            cpu, started = time.process_time(), time.perf_counter()
            ways[name](batch)
            elapsed = time.perf_counter() - started
            rate[name] = batch / elapsed
            rates[name].append(rate[name])
            cpu_us[name].append((time.process_time() - cpu) / batch * 1e6)
        for name, values in ratios.items():
            values.append(rate[name] / rate["plain"])
    result: dict[str, Any] = {"runs_per_way": batch * len(rates["plain"]), "batch": batch}
    for name in _WAYS:
        result[f"{name}_runs_per_s"] = statistics.median(rates[name])
        # CPU time of this (the parent) process per run: what the runner itself costs.
        result[f"{name}_parent_cpu_us"] = statistics.median(cpu_us[name])
    for name, values in ratios.items():
        result[f"{name}_ratio"] = statistics.median(values)
    return result


def _ways() -> dict[str, Callable[[int], None]]:
    from schedctl.commands.jobrunner import run_command_job
    from schedctl.commands.runner import run_command
    from schedctl.commands.spec import CommandSpec
    from schedctl.executors.base import RunContext, running_as

    spec = CommandSpec(_ARGV)
    spec_json = spec.to_dict()  # what the scheduler stores for a command job
    context = RunContext(_JOB_ID, "default", datetime.now(UTC))

    def plain(count: int) -> None:
        for _ in range(count):
            subprocess.run(_ARGV, check=True)

    def runner(count: int) -> None:
        for _ in range(count):
            if not run_command(spec, job_id=_JOB_ID).ok:
                raise RuntimeError("run_command: true did not succeed")

    def job(count: int) -> None:
        with running_as(context):
            for _ in range(count):
                run_command_job(_JOB_ID, spec_json)  # raises CommandFailedError on failure

    return {"plain": plain, "run_command": runner, "run_command_job": job}


def report(results: Results, libs: tuple[str, ...]) -> list[Row]:
    def value(metric: str) -> Value:
        return results.value("true", "schedctl", "none", metric)

    none = Value(None)
    rows = [
        Row(TITLE, 'plain subprocess.run(["true"]) loop (the limit)', "runs/s",
            value("plain_runs_per_s"), none),
    ]
    for name, label in (
        ("run_command", "commands.run_command"),
        ("run_command_job", "jobrunner.run_command_job (what the scheduler calls)"),
    ):
        rows.append(Row(TITLE, f"{label}, true", "runs/s", value(f"{name}_runs_per_s"), none))
        ratio = value(f"{name}_ratio")
        row = Row(TITLE, f"{label} ÷ plain loop", "x", ratio, none,
                  goal=f"≥ {GOALS[name]:g}× the plain loop")
        row.met = None if ratio.number is None else ratio.number >= GOALS[name]
        rows.append(row)
    rows[0].note = (
        "APScheduler has no command runner (—); the ratios are per round of interleaved "
        "batches, medians"
    )
    return rows
