"""The benchmark suite still runs. Timings are never asserted here: goals live in bench/."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import percentile
from bench.run import select_workloads
from bench.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def aps_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("apscheduler", "sqlalchemy"))


@pytest.mark.slow
def test_smoke_run_measures_every_workload_and_writes_json(tmp_path: Path) -> None:
    # Without APScheduler (CI installs only the test extra), schedctl is measured alone.
    argv = [sys.executable, "-m", "bench", "--smoke", "--quiet", "--out", str(tmp_path)]
    if not aps_installed():
        argv.append("--no-compare")
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| workload | metric | schedctl |" in proc.stdout
    (path,) = tmp_path.glob("*-smoke.json")
    report = json.loads(path.read_text())
    assert report["errors"] == {}
    assert set(report["workloads"]) == set(WORKLOADS)
    assert report["machine"]["nproc"] and report["machine"]["python"]
    for name, workload in report["workloads"].items():
        assert workload["rows"], name
        for row in workload["rows"]:
            assert row["schedctl"] is not None or row["schedctl_text"], (name, row["metric"])


@pytest.mark.parametrize(
    ("only", "expected"),
    [([], list(WORKLOADS)), (["idle,lateness"], ["lateness", "idle"]), (["idle"], ["idle"])],
    ids=["all", "comma-separated", "one"],
)
def test_only_selects_workloads_in_registry_order(only: list[str], expected: list[str]) -> None:
    assert select_workloads(only) == expected


def test_only_rejects_an_unknown_workload_with_a_suggestion() -> None:
    with pytest.raises(SystemExit, match="did you mean 'lateness'"):
        select_workloads(["latenes"])


@pytest.mark.parametrize(("q", "expected"), [(50, 2.0), (99, 4.0), (100, 4.0), (1, 1.0)], ids=str)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == expected
