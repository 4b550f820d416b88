"""Fixtures of the fault-tolerance suite.

The command-line fixtures (the real ``schedctl`` executable, jobfiles and a ``schedctl
run`` that is always cleaned up) are those of ``tests/cli``; this module adds the
ledger the test jobs write to, and a guard for the signal handlers an in-process
Service installs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import cli_env, jobfile, schedctl, scheduler, state  # noqa: F401 (fixtures)
from tests.faults.harness import LEDGER_LINE


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The file test jobs append one line to per run (see ``harness.read_ledger``)."""
    return tmp_path / "ledger.txt"


@pytest.fixture
def ledger_command(ledger: Path) -> str:
    """The shell command that appends this run's job id and scheduled time to ``ledger``."""
    return LEDGER_LINE.format(ledger=ledger)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """A Service run in this process installs handlers for SIGTERM, SIGINT and SIGHUP."""
    signums = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    saved = {signum: signal.getsignal(signum) for signum in signums}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
