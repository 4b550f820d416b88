"""Refusing jobfiles others could change when running as root; reaping orphans as PID 1."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from schedctl.commands.reaper import reap_until
from schedctl.service.safety import InsecureJobfileError, check_jobfile_safety

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the check applies to root only")


@root_only
@pytest.mark.parametrize(("mode", "owner", "refused"), [
    (0o644, 0, False), (0o664, 0, True), (0o646, 0, True), (0o644, 65534, True),
], ids=["root-644", "group-writable", "world-writable", "other-owner"])
def test_root_refuses_a_jobfile_others_could_change(tmp_path: Path, mode: int, owner: int, refused: bool) -> None:
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text("jobs: {}\n")
    os.chmod(jobfile, mode)
    os.chown(jobfile, owner, -1)
    if refused:
        with pytest.raises(InsecureJobfileError, match="--insecure"):
            check_jobfile_safety(str(jobfile))
        check_jobfile_safety(str(jobfile), insecure=True)  # the explicit override
    else:
        check_jobfile_safety(str(jobfile))


def test_the_init_reaps_every_child_and_returns_the_status_of_its_own() -> None:
    orphan = subprocess.Popen(["true"])  # stands for a process a job left behind
    os.waitid(os.P_PID, orphan.pid, os.WEXITED | os.WNOWAIT)  # a zombie now
    scheduler = os.fork()
    if scheduler == 0:
        os._exit(3)
    assert reap_until(scheduler) == 3
    with pytest.raises(ChildProcessError):  # reaped along the way
        os.waitpid(orphan.pid, os.WNOHANG)
    orphan.returncode = 0  # collected above; keeps Popen from waiting for it again


def test_the_init_reports_a_child_killed_by_a_signal_as_128_plus_the_signal() -> None:
    scheduler = os.fork()
    if scheduler == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    assert reap_until(scheduler) == 128 + signal.SIGKILL
