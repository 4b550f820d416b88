"""A restart after the state directory was made read-only, with the real executable.

A scheduler killed with SIGKILL leaves its wake-up socket (``state.db.wake``) behind; the
next start removes it before it binds its own. When the directory has been made
read-only meanwhile, that removal fails: the scheduler says so in one line and relies on
polling, and with no ``-wal`` file left to reuse (a clean stop removes it) it refuses to
start with one line that names the directory. Never a traceback.

We run as root, who may write anywhere: the restarted scheduler runs without the
capabilities that let root ignore file modes (``setpriv``), as any other user would.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import Daemon, wait_until

JOBS = """\
state: state.db
jobs:
  tick: {command: 'true', interval: 1h}
"""

#: Root without the capabilities that override file modes and ownership.
AS_PLAIN_OWNER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]

pytestmark = pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")


def start(tmp_path: Path, env: dict[str, str], name: str, *prefix: str) -> Daemon:
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*prefix, SCHEDCTL, "run", str(tmp_path / "state" / "jobs.yaml")],
                                cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, start_new_session=True)
    return Daemon(proc, log)


@pytest.fixture
def state_dir(tmp_path: Path):
    directory = tmp_path / "state"
    directory.mkdir(mode=0o755)
    (directory / "jobs.yaml").write_text(JOBS)
    yield directory
    directory.chmod(0o755)


def test_a_stale_wake_socket_in_a_read_only_directory_means_polling(tmp_path, cli_env,
                                                                     state_dir):
    first = start(tmp_path, cli_env, "first").wait_ready()
    wait_until(lambda: (state_dir / "state.db.wake").exists(), what="the wake socket")
    first.proc.send_signal(signal.SIGKILL)
    first.wait_exit()
    assert (state_dir / "state.db.wake").exists() and (state_dir / "state.db-wal").exists()
    state_dir.chmod(0o555)

    second = start(tmp_path, cli_env, "second", *AS_PLAIN_OWNER)
    try:
        second.wait_ready()
        second.wait_for_log("relying on polling")
        paused = subprocess.run([SCHEDCTL, "pause", "--state", state_dir / "state.db", "tick"],
                                env=cli_env, capture_output=True, text=True, timeout=30,
                                check=False)
        assert paused.returncode == 0, paused.stderr
        second.signal(signal.SIGTERM)
        assert second.wait_exit() == 0
    finally:
        second.kill()
    log = second.log()
    assert "Traceback" not in log, log
    assert f"Cannot remove the stale {state_dir}/state.db.wake (Permission denied)" in log


def test_a_read_only_directory_without_a_wal_file_is_one_clear_line(tmp_path, cli_env,
                                                                     state_dir):
    first = start(tmp_path, cli_env, "first").wait_ready()
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    assert not (state_dir / "state.db-wal").exists()
    state_dir.chmod(0o555)

    second = start(tmp_path, cli_env, "second", *AS_PLAIN_OWNER)
    assert second.wait_exit() == 1
    err = second.log()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"cannot be written: this user may not create files in {state_dir}" in err
