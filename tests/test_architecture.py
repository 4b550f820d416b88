"""The layout is the architecture: these tests keep the dependency rules of STYLE.md true."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "schedctl"
ENGINE = ["triggers", "jobstores", "executors", "schedulers", "events.py", "job.py", "clock.py",
          "timeutil.py", "refs.py", "errors.py", "trust.py"]
#: Modules allowed to read the time or block on it.
CLOCK_MODULES = {"clock.py", "running.py", "spawn.py", "processes.py", "shim.py"}  # the shim is a process of its own
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


# --- The import rules of pyproject.toml's import-linter contracts -----------------------

ROOT = PACKAGE.parent
PRODUCT = ("cli", "service", "metrics", "cluster", "state", "crontab", "jobfile", "alerts",
           "commands")
MAX_LOOSE_MODULES = 8
MAX_MODULE_LINES = 420


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``schedctl`` package found in ``project``."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
         " sys.exit(lint_imports_command())", "--config", str(project / "pyproject.toml"),
         "--no-cache"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )


def test_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_contracts_catch_an_engine_module_importing_the_cli(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "schedctl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    trigger_base = tmp_path / "schedctl" / "triggers" / "base.py"
    trigger_base.write_text(trigger_base.read_text() + "\nimport schedctl.cli  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "schedctl.triggers.base -> schedctl.cli" in result.stdout


def runtime_import_cycles() -> list[list[str]]:
    """Strongly connected groups of product modules, counting only imports that run."""
    graph = grimp.build_graph("schedctl", exclude_type_checking_imports=True)
    product = {m for m in graph.modules if m.split(".")[1:2] and m.split(".")[1] in PRODUCT}
    edges = {m: graph.find_modules_directly_imported_by(m) & product for m in product}
    return [sorted(group) for group in strongly_connected(edges) if len(group) > 1]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively, over a small graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_runs_inside_the_product_layer() -> None:
    assert runtime_import_cycles() == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(g) for g in strongly_connected(edges) if len(g) > 1] == [["a", "b", "c"]]


def test_few_modules_lie_loose_in_the_package() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    assert len(loose) <= MAX_LOOSE_MODULES, sorted(loose)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_every_package_says_what_it_holds_and_may_import() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc.split()) >= 12, f"{init.parent.name}/__init__.py needs a docstring"


#: Modules ``schedctl run`` has no use for, each several MB of a service's memory for good:
#: the HTTP client and server with ssl (the metrics listener is our own), OpenSSL's
#: hashes (the digests use CPython's SHA-256), prometheus_client and the CLI's renderer.
SERVICE_LEAVES_OUT = ("ssl", "_hashlib", "http.client", "http.server", "urllib.request",
                      "prometheus_client", "rich")


def test_the_service_leaves_out_what_it_does_not_use() -> None:
    program = (
        "import sys\n"
        "import schedctl.cli.run, schedctl.service.daemon, schedctl.metrics.exporter\n"
        "from schedctl.jobfile.loader import load_jobfile\n"
        f"jobfile = load_jobfile({str(PACKAGE.parent / 'jobs.example.yaml')!r})\n"
        "assert jobfile.metrics and all(spec.definition_hash() for spec in jobfile.jobs.values())\n"
        "print('\\n'.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True)
    loaded = set(done.stdout.split())
    assert "schedctl.metrics.server" in loaded  # the check sees the service's modules
    assert sorted(loaded & set(SERVICE_LEAVES_OUT)) == []
