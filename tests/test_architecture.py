"""The layout is the architecture: these tests keep the dependency rules of STYLE.md true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "schedctl"
ENGINE = ["triggers", "jobstores", "executors", "schedulers", "events.py", "job.py", "clock.py",
          "timeutil.py", "refs.py", "errors.py"]
#: Modules allowed to read the time or block on it.
CLOCK_MODULES = {"clock.py", "commands.py", "_spawn.py", "processes.py", "shim.py"}  # the shim is a process of its own
TIME_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("time", "monotonic"),
              ("time", "sleep"), ("date", "today"), ("datetime", "today")}


def engine_files() -> list[Path]:
    files: list[Path] = []
    for part in ENGINE:
        path = PACKAGE / part
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [f for f in files if f.exists()]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_never_imports_cli_libraries(path: Path) -> None:
    assert not imported_modules(path) & {"click", "rich", "yaml"}


def time_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in TIME_CALLS:
                found.append(f"{path.name}:{node.lineno} {owner_name}.{node.func.attr}()")
    return found


@pytest.mark.parametrize(
    "path", [p for p in sorted(PACKAGE.rglob("*.py")) if p.name not in CLOCK_MODULES],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_clock_reads_the_time(path: Path) -> None:
    assert time_calls(path) == []


def test_the_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom datetime import datetime\ntime.sleep(1)\ndatetime.now()\n")
    assert len(time_calls(sample)) == 2
