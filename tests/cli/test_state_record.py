"""Commands given -f JOBFILE find the state that `schedctl run --state` uses, with the
real executable; the record that says where cannot be planted by another user."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from schedctl.state.where import record_path
from tests.cli.helpers import as_json

JOBS = """\
jobs:
  tick: {command: 'true', interval: 1h}
"""
NOBODY = 65534  # a real user that is neither root nor us


def record_of(jobfile: Path, env: dict[str, str]) -> Path:
    saved = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
    try:
        return record_path(jobfile)
    finally:
        if saved is None:
            del os.environ["XDG_STATE_HOME"]
        else:
            os.environ["XDG_STATE_HOME"] = saved


def test_commands_given_the_jobfile_find_the_state_run_was_given(schedctl, jobfile, scheduler,
                                                                 tmp_path, cli_env):
    path = jobfile(JOBS)
    elsewhere = tmp_path / "var" / "jobs.db"
    daemon = scheduler(path, "--state", elsewhere)

    status = as_json(schedctl("status", "-f", path, "--json"))
    assert status["state"] == str(elsewhere) and status["running"] is True
    assert [job["id"] for job in as_json(schedctl("list", "-f", path, "--json"))] == ["tick"]
    paused = schedctl("pause", "-f", path, "tick")
    assert paused.returncode == 0 and "tick: paused" in paused.stdout, paused.stderr

    record = record_of(path, cli_env)
    info = record.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    assert json.loads(record.read_text())["state"] == str(elsewhere)

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    listed = as_json(schedctl("list", "-f", path, "--json"))  # after the stop too
    assert listed[0]["next_run_time"] is None  # the pause, read from that state


def test_a_run_on_the_jobfiles_own_state_leaves_no_record(schedctl, jobfile, scheduler, cli_env):
    path = jobfile("state: state.db\n" + JOBS)
    record = record_of(path, cli_env)
    record.parent.mkdir(parents=True, mode=0o700)
    record.write_text(json.dumps({"jobfile": str(path), "state": "/nowhere/old.db"}))
    daemon = scheduler(path)
    assert not record.exists()  # an old record would mislead
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0


@pytest.mark.parametrize("plant", ["owned-by-another-user", "writable-by-others", "link"])
def test_a_planted_record_redirects_nobody(schedctl, jobfile, tmp_path, cli_env, plant):
    path = jobfile("state: state.db\n" + JOBS)
    theirs = tmp_path / "theirs.db"
    theirs.write_bytes(b"")
    record = record_of(path, cli_env)
    record.parent.mkdir(parents=True, mode=0o700)
    text = json.dumps({"jobfile": str(path), "state": str(theirs)})
    if plant == "link":
        target = tmp_path / "elsewhere.where"
        target.write_text(text)
        record.symlink_to(target)
    else:
        record.write_text(text)
        if plant == "owned-by-another-user":
            os.chown(record, NOBODY, NOBODY)
        else:
            record.chmod(0o666)

    result = schedctl("pause", "-f", path, "tick")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert str(record) in result.stderr, result.stderr
    assert theirs.read_bytes() == b""  # never opened as a state


def test_a_record_of_another_jobfile_is_not_used(schedctl, jobfile, tmp_path, cli_env):
    path = jobfile("state: state.db\n" + JOBS)
    record = record_of(path, cli_env)
    record.parent.mkdir(parents=True, mode=0o700)
    other = tmp_path / "other.db"
    other.write_bytes(b"")
    record.write_text(json.dumps({"jobfile": "/etc/other.yaml", "state": str(other)}))
    result = schedctl("list", "-f", path)
    assert "state.db does not exist yet" in result.stderr


@pytest.mark.parametrize(("url", "recorded"), [
    ("postgresql://schedctl@db.example.com/jobs", True),
    ("postgresql://schedctl:secret@db.example.com/jobs", False),
    ("postgresql://schedctl@db.example.com/jobs?password=secret", False),
], ids=["no-password", "password", "password-parameter"])
def test_a_database_url_is_recorded_only_without_a_password(tmp_path, monkeypatch, url, recorded):
    from schedctl.jobfile.specs import Jobfile
    from schedctl.state.where import recorded_state, remember

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    jobfile = Jobfile(path=str(tmp_path / "jobs.yaml"))
    remember(jobfile, url)
    assert recorded_state(jobfile.path) == (url if recorded else None)
    assert ("secret" in record_path(jobfile.path).read_text()
            if record_path(jobfile.path).exists() else False) is False


def test_under_sudo_keeping_home_roots_default_state_stays_in_roots_home(jobfile, tmp_path,
                                                                         cli_env, unix_user):
    """``sudo schedctl ...`` with the caller's ``HOME`` kept: the default state is root's,
    as the password database names root's home, never one in the caller's home."""
    import pwd
    import subprocess

    from tests.cli.conftest import SCHEDCTL

    path = jobfile(JOBS)
    env = {key: value for key, value in cli_env.items() if key != "XDG_STATE_HOME"}
    env["HOME"] = unix_user.home
    result = subprocess.run([SCHEDCTL, "history", "-f", path], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False)
    own = Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".local" / "state" / "schedctl"
    assert result.returncode == 1
    assert f"state file {own}/jobs-" in result.stderr, result.stderr
    assert unix_user.home not in result.stderr
