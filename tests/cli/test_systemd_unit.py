"""`schedctl systemd-unit`, with the real executable: a unit that works for the user it
names (its state in the service's StateDirectory=, not under the home of whoever printed
it), with hardening that takes nothing its jobs need, checked by `systemd-analyze verify`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.prerequisites import need

JOBS = """\
jobs:
  backup: {command: 'true', cron: '30 2 * * *'}
"""

@pytest.fixture
def analyze() -> None:
    """systemd-analyze, or the test skipped (failed under CI: tests/prerequisites.py)."""
    need("systemd", "systemd-analyze")


needs_analyze = pytest.mark.usefixtures("analyze")


def settings(unit: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.splitlines() if re.match(r"^\w+=", line))


def verify(tmp_path: Path, unit: str) -> None:
    path = tmp_path / "schedctl-jobs.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def state_of(unit: str) -> str:
    return re.search(r"--state (\S+)", settings(unit)["ExecStart"]).group(1)


@needs_analyze
def test_a_unit_for_another_user_keeps_its_state_in_the_state_directory(schedctl, jobfile,
                                                                         tmp_path, cli_env):
    path = jobfile(JOBS)
    result = schedctl("systemd-unit", "--user", "nobody", path)
    assert result.returncode == 0, result.stderr
    unit = result.stdout
    verify(tmp_path, unit)

    found = settings(unit)
    state = state_of(unit)
    assert re.fullmatch(r"/var/lib/schedctl/jobs-[0-9a-f]{10}\.db", state), state
    assert found["StateDirectory"] == "schedctl" and found["StateDirectoryMode"] == "0700"
    assert found["User"] == "nobody"
    assert not state.startswith((str(Path.home()), cli_env["XDG_STATE_HOME"]))
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "full", "PrivateTmp": "yes",
                       "CapabilityBoundingSet": ""}.items():
        assert found[key] == value, key


@needs_analyze
def test_a_unit_run_as_root_keeps_what_root_and_user_jobs_need(schedctl, jobfile, tmp_path):
    path = jobfile(JOBS + "  as-root: {command: 'true', interval: 1h, user: root}\n")
    result = schedctl("systemd-unit", path)
    assert result.returncode == 0, result.stderr
    verify(tmp_path, result.stdout)
    found = settings(result.stdout)
    assert "User" not in found
    assert found["StateDirectory"] == "schedctl"
    # setuid for user: jobs and sudo; the system writable, as it is for root's jobs
    assert (found["NoNewPrivileges"], found["ProtectSystem"], found["ProtectHome"],
            found["PrivateTmp"]) == ("no", "no", "no", "no")
    assert "CapabilityBoundingSet" not in found and "RestrictSUIDSGID" not in found


@needs_analyze
def test_a_state_the_jobfile_names_is_kept_and_made_writable(schedctl, jobfile, tmp_path):
    path = jobfile("state: data/jobs.db\n" + JOBS)
    result = schedctl("systemd-unit", "--user", "nobody", path)
    assert result.returncode == 0, result.stderr
    verify(tmp_path, result.stdout)
    assert state_of(result.stdout) == str(tmp_path / "data" / "jobs.db")
    assert settings(result.stdout)["ReadWritePaths"] == f"-{tmp_path / 'data'}"

    given = schedctl("systemd-unit", "--user", "nobody", "--state", "/var/lib/jobs/x.db", path)
    assert state_of(given.stdout) == "/var/lib/jobs/x.db"
    assert settings(given.stdout)["StateDirectory"] == "jobs"


def test_a_unit_for_another_user_refuses_jobs_that_switch_users(schedctl, jobfile):
    path = jobfile(JOBS + "  as-root: {command: 'true', interval: 1h, user: root}\n")
    result = schedctl("systemd-unit", "--user", "nobody", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert "jobs run as root ('user:')" in result.stderr
    assert os.path.basename(str(path)) in result.stderr
