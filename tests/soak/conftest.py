"""Fixtures of the soak suite: those of ``tests/cli`` (the real ``schedctl`` executable,
a ``schedctl run`` that is always cleaned up), and a report of each soak test's figures
at the end of the terminal output, so a plain ``pytest`` run shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import cli_env, scheduler  # noqa: F401 (fixtures)

_FIGURES = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()


@pytest.fixture
def soak_report(request: pytest.FixtureRequest) -> Callable[[str, dict[str, Any]], None]:
    """Call with a title and figures; they are printed in the terminal summary."""
    reports = request.config.stash.setdefault(_FIGURES, [])
    return lambda title, figures: reports.append((title, dict(figures)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    reports = config.stash.get(_FIGURES, [])
    if not reports:
        return
    terminalreporter.section("soak figures")
    for title, figures in reports:
        terminalreporter.write_line(title)
        for name, value in figures.items():
            terminalreporter.write_line(f"  {name}: {value}")
