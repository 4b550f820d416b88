"""Reaping orphans as PID 1: the init that schedctl run becomes in a container."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from schedctl.commands.reaper import reap_until


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
