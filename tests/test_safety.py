"""Refusing jobfiles others could change when running as root; reaping orphans as PID 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from schedctl.reaper import reap_orphans, zombie_children
from schedctl.safety import InsecureJobfileError, check_jobfile_safety

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


def test_zombie_children_are_reaped_except_the_excluded(tmp_path: Path) -> None:
    kept = subprocess.Popen(["true"])
    lost = subprocess.Popen(["true"])
    for child in (kept, lost):  # wait until both have exited without collecting them
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert {kept.pid, lost.pid} <= set(zombie_children())
    assert reap_orphans(exclude=[kept.pid]) >= 1
    assert lost.pid not in zombie_children()
    assert kept.pid in zombie_children()
    kept.wait()
