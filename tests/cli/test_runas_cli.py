"""``user:`` end to end: the real executable runs a job as a real account made by ``useradd``."""

from __future__ import annotations

# The child of ``as_user`` cannot read root's interpreter tree: what it runs is loaded here.
import encodings.utf_8_sig  # noqa: F401
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import schedctl.service.daemon
import schedctl.service.logfmt  # noqa: F401
from schedctl.cli import main
from tests.cli.helpers import read_runs, wait_until
from tests.test_runas import as_user


@pytest.fixture
def user_dir(unix_user) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sct-runas-"))
    os.chown(path, unix_user.uid, unix_user.gid)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_user_job_writes_a_file_owned_by_that_user(unix_user, user_dir, jobfile, scheduler,
                                                     state):
    path = jobfile(f"""
        state: state.db
        jobs:
          as-user:
            command: id -un > whoami; pwd >> whoami
            interval: 0.2s
            user: {unix_user.name}
            cwd: {user_dir}
          as-root:
            command: id -un
            interval: 0.2s
    """)
    daemon = scheduler(path)
    made = user_dir / "whoami"
    wait_until(lambda: made.exists() and made.read_text().count("\n") == 2,
               what="the user job's file", context=daemon.log)
    info = made.stat()
    assert (info.st_uid, info.st_gid) == (unix_user.uid, unix_user.gid)
    assert made.read_text() == f"{unix_user.name}\n{user_dir}\n"
    wait_until(lambda: read_runs(state, "as-root"), what="a run of the root job")
    assert read_runs(state, "as-root")[-1].output == "root\n"


def test_validate_shows_each_jobs_user(unix_user, schedctl, jobfile):
    jobfile(f"""
        jobs:
          mine: {{command: x, interval: 5m, user: {unix_user.name}}}
          theirs: {{command: x, interval: 5m}}
    """)
    result = schedctl("validate", "jobs.yaml", "-n", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    mine = next(i for i, line in enumerate(lines) if line.startswith("mine:"))
    theirs = next(i for i, line in enumerate(lines) if line.startswith("theirs:"))
    assert lines[mine + 2] == f"  runs as {unix_user.name}"  # after its next run
    assert lines[theirs + 2] == "  runs as the scheduler's user"
    listed = json.loads(schedctl("validate", "jobs.yaml", "--json").stdout)
    assert {job["id"]: job["user"] for job in listed["jobs"]} == {
        "mine": unix_user.name, "theirs": None}


def test_validate_refuses_an_unknown_user_with_its_place(schedctl, jobfile):
    jobfile("""
        jobs:
          backup: {command: x, interval: 5m, user: no-such-user-sct}
    """)
    result = schedctl("validate", "jobs.yaml")
    assert result.returncode == 2
    assert result.stderr == ("jobs.yaml:2:44: jobs.backup.user: no user 'no-such-user-sct' on this "
                             "machine; create it first (useradd no-such-user-sct)\n")


def test_not_root_run_refuses_a_job_for_another_user_before_anything_runs(unix_user, user_dir):
    jobs = user_dir / "jobs.yaml"
    jobs.write_text("jobs:\n  backup:\n    command: touch ran\n    interval: 1s\n"
                    "    user: root\n")
    os.chown(jobs, unix_user.uid, unix_user.gid)

    def run() -> str:
        os.chdir(user_dir)
        os.environ["XDG_STATE_HOME"] = str(user_dir / "state")
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - pytest had replaced it
        try:
            main.main(["run", str(jobs)], prog_name="schedctl")  # exits: SystemExit is the result
        finally:
            sys.stderr.flush()
        return "returned"

    code, text = as_user(unix_user, run)
    assert code == 2, text
    assert text == (f"{jobs}:2: jobs.backup.user: schedctl runs as {unix_user.name}, and only "
                    "root can run a command as another user ('root'); run schedctl as root, or "
                    "remove user:\n")
    assert not (user_dir / "state").exists()  # refused before the state store was touched
    assert not (user_dir / "ran").exists()
