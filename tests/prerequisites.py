"""Programs the suite needs beyond Python packages: skipped with a reason on a newcomer's
machine, never in CI.

``.ci/run`` installs them all and runs with ``CI=true``; there a missing program fails the
tests that need it, so a broken CI image cannot pass by skipping. Elsewhere the tests that
need it are skipped, each saying what to install (README.md, "Development").
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

#: Each program the suite runs, and how to install it on Debian or Ubuntu.
INSTALL = {
    "postgresql": "apt-get install postgresql (the server binaries initdb, pg_ctl, postgres)",
    "mandoc": "apt-get install mandoc",
    "prometheus": "apt-get install prometheus",
    "tmux": "apt-get install tmux",
    "systemd": "apt-get install systemd (systemd-analyze)",
}


def in_ci() -> bool:
    """True under CI (``CI=true``, as GitHub Actions, GitLab CI and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(program: str, detail: str = "") -> NoReturn:
    """Skip the test for want of ``program``, saying how to install it; fail it in CI."""
    message = f"{program} is not installed: {INSTALL.get(program, 'install it')}"
    if detail:
        message += f" ({detail})"
    if in_ci():
        pytest.fail(f"{message}; CI runs every test, so it must be installed there",
                    pytrace=False)
    pytest.skip(message)


def need(program: str, *executables: str) -> None:
    """Skip (fail in CI) unless one of ``executables`` (default: ``program``) is on PATH."""
    if not any(shutil.which(name) for name in executables or (program,)):
        missing(program)
