"""``python -m bench``: run the workloads on schedctl and APScheduler, print a table, save JSON.

Every case runs in a child process; repetitions are interleaved (schedctl, then
APScheduler, then again) so a machine that speeds up or slows down during the
run affects both engines alike. Goals live in the workload modules, never in the
test suite.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.child import RESULT_MARK
from bench.harness import SIZES, Case, Reps, Results, Row, Size
from bench.machine import machine_info
from bench.sides import LIBS, aps_installed
from bench.table import render_table
from bench.workloads import WORKLOADS, load

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="reduced sizes, one repetition (<60 s)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: checks that all runs")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these workloads (repeat or comma-separate): {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="schedctl only (automatic hint when APScheduler is missing)",
    )
    parser.add_argument("--reps", type=int, help="repetitions per case (default: 3, quick: 1)")
    parser.add_argument("--out", type=Path, help=f"directory for the JSON (default: {RESULTS_DIR})")
    parser.add_argument("--workdir", type=Path, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def select_workloads(only: list[str]) -> list[str]:
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    for name in names:
        if name not in WORKLOADS:
            close = difflib.get_close_matches(name, WORKLOADS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SystemExit(
                f"--only: unknown workload {name!r}{hint}; known: {', '.join(WORKLOADS)}"
            )
    return [n for n in WORKLOADS if not names or n in names]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.reps is not None:
        size = Size(size.name, max(1, args.reps))
    if not args.no_compare and not aps_installed():
        print(
            "APScheduler 3 and SQLAlchemy are not installed: pip install -e '.[bench]', "
            "or pass --no-compare to measure schedctl alone",
            file=sys.stderr,
        )
        return 2
    libs = ("schedctl",) if args.no_compare else LIBS
    names = select_workloads(args.only)
    workdir = Path(tempfile.mkdtemp(prefix="schedctl-bench-", dir=args.workdir))
    log = (
        (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    )
    started = time.monotonic()
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "mode": size.name,
        "reps": size.reps,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "libs": list(libs),
        "machine": machine_info(),
        "workloads": {},
    }
    rows: list[Row] = []
    errors: dict[str, list[str]] = {}
    try:
        for name in names:
            module = load(name)
            data = run_workload(name, module, size, libs, workdir, log)
            results = Results(data)
            workload_rows = module.report(results, libs)
            rows.extend(workload_rows)
            errors.update({f"{name}:{k}": v for k, v in results.errors().items()})
            report["workloads"][name] = {
                "rows": [row_json(r) for r in workload_rows],
                "cases": data,
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["duration_s"] = round(time.monotonic() - started, 1)
    report["machine"]["loadavg_after"] = os.getloadavg()
    report["errors"] = errors
    path = write_report(report, args.out, size.name)  # first: the figures survive a broken pipe
    print(render_table(rows, libs))
    print(f"\n{len(rows)} rows in {report['duration_s']} s; raw numbers in {path}")
    for key, messages in errors.items():
        print(f"\nERROR in {key}:\n{messages[0]}", file=sys.stderr)
    return 1 if errors else 0


def run_workload(
    name: str, module: ModuleType, size: Size, libs: tuple[str, ...], workdir: Path, log: Any
) -> dict[str, Reps]:
    """Every case of one workload, repetitions interleaved; setup cases first, once."""
    all_cases: list[Case] = module.cases(size, libs)
    data: dict[str, Reps] = {}
    for case in (c for c in all_cases if c.setup):
        _record(data, case, run_case(case, workdir), log, 1, 1)
    measured = [c for c in all_cases if not c.setup]
    if getattr(module, "PARALLEL", False):
        return _run_parallel(measured, size, workdir, data, log)
    capped: set[str] = set()
    rounds = max((case.reps or size.reps for case in measured), default=0)
    for rep in range(rounds):
        for case in measured:
            reps = case.reps or size.reps
            if rep >= reps or case.key in capped:
                continue
            result = run_case(case, workdir)
            _record(data, case, result, log, rep + 1, reps)
            if result.get("capped"):
                capped.add(case.key)  # a capped run costs its cap again and says nothing new
    return data


def _run_parallel(
    cases: list[Case], size: Size, workdir: Path, data: dict[str, Reps], log: Any
) -> dict[str, Reps]:
    jobs = [(case, rep) for case in cases for rep in range(case.reps or size.reps)]
    log(f"{cases[0].workload if cases else ''}: {len(jobs)} runs in parallel")
    procs = [(case, rep, _spawn(case, workdir)) for case, rep in jobs]
    for case, rep, proc in procs:
        _record(data, case, _collect(case, proc), log, rep + 1, case.reps or size.reps)
    return data


def _record(
    data: dict[str, Reps], case: Case, result: dict[str, Any], log: Any, rep: int, reps: int
) -> None:
    data.setdefault(case.key, []).append(result)
    status = "ERROR" if "error" in result else f"{result.get('_wall_s', 0):.1f} s"
    log(f"  {case.workload}: {case.key} [{rep}/{reps}] {status}")


def run_case(case: Case, workdir: Path) -> dict[str, Any]:
    return _collect(case, _spawn(case, workdir))


def _spawn(case: Case, workdir: Path) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    argv = [
        sys.executable,
        "-m",
        "bench.child",
        case.workload,
        json.dumps(case.to_json()),
        str(workdir),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.started = time.monotonic()  # type: ignore[attr-defined]
    return proc


def _collect(case: Case, proc: subprocess.Popen[str]) -> dict[str, Any]:
    remaining = case.timeout - (time.monotonic() - proc.started)  # type: ignore[attr-defined]
    try:
        out, err = proc.communicate(timeout=max(remaining, 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"no result within the {case.timeout:g} s cap of the child process"}
    wall = time.monotonic() - proc.started  # type: ignore[attr-defined]
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        return {"error": f"child exited with {proc.returncode}:\n{err[-3000:]}"}
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    result["_wall_s"] = round(wall, 2)
    return result


def row_json(row: Row) -> dict[str, Any]:
    return {
        "workload": row.workload,
        "metric": row.metric,
        "unit": row.unit,
        "schedctl": row.schedctl.number,
        "schedctl_text": row.schedctl.text,
        "apscheduler": row.apscheduler.number,
        "apscheduler_text": row.apscheduler.text,
        "ratio": row.ratio,
        "goal": row.goal,
        "met": row.met,
        "note": row.note,
    }


def write_report(report: dict[str, Any], out: Path | None, mode: str) -> Path:
    """``<date>.json`` for a full run; quick and smoke runs get a suffix so they never
    overwrite the day's real figures."""
    directory = out or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    suffix = "" if mode == "full" else f"-{mode}"
    path = directory / f"{report['date']}{suffix}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return path
