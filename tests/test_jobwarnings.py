"""What ``validate`` prints and ``schedctl run`` logs about a job's files and directory:
an env_file a run would refuse, a root job's cwd that another user could change."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from schedctl.jobfile.specs import Jobfile, JobSpec, TriggerSpec
from schedctl.service.jobwarnings import job_warnings

NOBODY = pwd.getpwnam("nobody").pw_uid


def directory(tmp_path: Path, kind: str) -> Path:
    """A cwd as ``kind`` says; tmp_path itself is root's, mode 0700."""
    path = tmp_path / "work"
    path.mkdir()
    if kind == "others-write-sticky":
        path.chmod(0o1777)
    elif kind == "group-writes":
        path.chmod(0o775)
    elif kind == "another-owner":
        os.chown(path, NOBODY, -1)
    elif kind == "open-parent":
        tmp_path.chmod(0o777)
    else:
        path.chmod(0o755)
    return path


def warnings(cwd: Path | str, *, user: str | None = None, uid: int = 0) -> list[str]:
    spec = JobSpec(id="backup", trigger=TriggerSpec("interval", 3600), line=3,
                   command="./backup.sh", cwd=str(cwd), user=user)
    return job_warnings(Jobfile(path="jobs.yaml", jobs={"backup": spec}), uid=uid)


@pytest.mark.parametrize(("kind", "problem"), [
    ("others-write-sticky", "group or others may write it (mode drwxrwxrwt); fix: chmod go-w"),
    ("group-writes", "group or others may write it (mode drwxrwxr-x); fix: chmod go-w"),
    ("another-owner", "it is owned by nobody, not by root; fix: chown root"),
    ("open-parent", "group or others may write its directory"),
], ids=["others-write-sticky", "group-writes", "another-owner", "open-parent"])
def test_a_root_job_in_a_directory_another_user_can_change_is_warned_of(tmp_path, kind, problem):
    cwd = directory(tmp_path, kind)
    found = warnings(cwd)
    assert len(found) == 1
    assert found[0].startswith(f"jobs.yaml:3: jobs.backup.cwd: the job runs as root in {cwd}, "
                               "where another user could plant a file it runs or reads: ")
    assert problem in found[0]


@pytest.mark.parametrize(("kind", "user", "uid"), [
    ("root-only", None, 0),
    ("others-write-sticky", "nobody", 0),  # runs as nobody: nothing of root's to take
    ("others-write-sticky", None, NOBODY),  # a scheduler that is not root
    ("missing", None, 0),  # the run says so
], ids=["root-only", "job-of-another-user", "scheduler-not-root", "missing"])
def test_no_warning_where_no_other_user_gains_root(tmp_path, kind, user, uid):
    cwd = tmp_path / "nowhere" if kind == "missing" else directory(tmp_path, kind)
    assert warnings(cwd, user=user, uid=uid) == []


def test_a_root_user_job_is_a_root_job(tmp_path):
    assert len(warnings(directory(tmp_path, "group-writes"), user="root", uid=0)) == 1
