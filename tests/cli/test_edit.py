"""``schedctl edit``, end to end: the real executable, an EDITOR that is a script writing one
version of the file per call, a real terminal through tmux for the question it asks."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import fcntl
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import read_runs, wait_until
from tests.prerequisites import need

ORIGINAL = "jobs:\n  tick: {command: echo tick, interval: 5m}\n"
BROKEN = "jobs:\n  tick: {command: echo tick, intervall: 5m}\n"
FIXED = "jobs:\n  tick: {command: echo tick, interval: 10m}\n"


@pytest.fixture
def editor(tmp_path: Path) -> Callable[..., Path]:
    """An EDITOR script whose n-th call writes the n-th of ``versions`` into the file it is
    given (and, with ``meanwhile``, also writes that text into the jobfile itself)."""

    def make(*versions: str, meanwhile: tuple[Path, str] | None = None) -> Path:
        folder = tmp_path / f"editor-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        for number, text in enumerate(versions, 1):
            (folder / f"v{number}").write_text(text)
        extra = ""
        if meanwhile is not None:
            (folder / "other").write_text(meanwhile[1])
            extra = f"cat {folder}/other > {shlex.quote(str(meanwhile[0]))}\n"
        script = folder / "edit.sh"
        script.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            n=$(( $(cat {folder}/calls 2>/dev/null || echo 0) + 1 ))
            echo "$n" > {folder}/calls
            cat {folder}/v$n > "$1"
            """) + extra)
        script.chmod(0o755)
        return script

    return make


@pytest.fixture
def edit(tmp_path: Path, cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``schedctl edit`` with EDITOR set, stdin not a terminal."""

    def run(script: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
        # TMPDIR: the private copies an invalid edit keeps stay under tmp_path, not in /tmp.
        env = {**cli_env, "EDITOR": str(script), "TMPDIR": str(tmp_path)}
        env.pop("VISUAL", None)
        return subprocess.run([SCHEDCTL, "edit", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                              check=False)

    return run


def test_a_valid_edit_replaces_the_file_in_one_rename_keeping_owner_and_mode(
        tmp_path, editor, edit, unix_user):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    os.chown(jobs, unix_user.uid, unix_user.gid)
    jobs.chmod(0o640)
    before = jobs.stat()
    done = edit(editor(FIXED), "jobs.yaml")
    assert done.returncode == 0
    assert done.stdout == "jobs.yaml: saved; no scheduler runs it now; 'schedctl run' will use it\n"
    # Kept as it was, and said: root's scheduler does not trust a file another user owns.
    assert done.stderr == (f"schedctl: warning: jobs.yaml: schedctl run would refuse it: it is "
                           f"owned by {unix_user.name}, not by root; fix: chown root {jobs}\n")
    after = jobs.stat()
    assert jobs.read_text() == FIXED
    assert after.st_ino != before.st_ino  # a new file renamed over the old one
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid,
                                                           before.st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".jobs.yaml")] == []


def test_without_a_terminal_an_invalid_edit_is_reported_and_nothing_changes(
        tmp_path, editor, edit):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    inode = jobs.stat().st_ino
    script = editor(BROKEN, FIXED)
    done = edit(script, "jobs.yaml")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[:2] == [
        "jobs.yaml:2:3: jobs.tick: no trigger: add one of cron, interval, date",
        "jobs.yaml:2:30: jobs.tick.intervall: unknown key 'intervall' — did you mean 'interval'?",
    ]
    assert lines[2].startswith("schedctl: jobs.yaml is unchanged; your edit is kept in /")
    kept = Path(lines[2].rsplit(" ", 1)[1])
    assert kept.read_text() == BROKEN
    assert (jobs.read_text(), jobs.stat().st_ino) == (ORIGINAL, inode)
    assert (script.parent / "calls").read_text() == "1\n"  # no second edit was offered
    shutil.rmtree(kept.parent)


def test_on_a_terminal_an_invalid_edit_is_offered_again_and_the_fixed_one_saved(
        tmp_path, editor, cli_env, tmux):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    script = editor(BROKEN, FIXED)
    tmux.start(f"cd {tmp_path} && EDITOR={script} {SCHEDCTL} edit jobs.yaml; echo EXIT=$?",
               cli_env)
    screen = tmux.wait_for("Edit again? [Y/n]:")
    assert "jobs.yaml:2:30: jobs.tick.intervall: unknown key 'intervall'" in screen
    tmux.keys("Enter")  # the default: yes
    screen = tmux.wait_for("EXIT=")
    assert "jobs.yaml: saved;" in screen and "EXIT=0" in screen
    assert jobs.read_text() == FIXED
    assert (script.parent / "calls").read_text() == "2\n"


def test_on_a_terminal_no_retry_never_asks(tmp_path, editor, cli_env, tmux):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    tmux.start(f"cd {tmp_path} && TMPDIR={tmp_path} EDITOR={editor(BROKEN, FIXED)} {SCHEDCTL} "
               "edit --no-retry jobs.yaml; echo EXIT=$?", cli_env)
    screen = tmux.wait_for("EXIT=")
    assert "EXIT=2" in screen and "Edit again" not in screen
    assert jobs.read_text() == ORIGINAL


def test_the_running_scheduler_is_told_to_reload(tmp_path, editor, edit, jobfile, scheduler,
                                                  state):
    path = jobfile("""
        state: state.db
        jobs:
          tick: {command: echo tick, interval: 5m}
    """)
    daemon = scheduler(path)
    done = edit(editor(path.read_text() + "  fresh: {command: echo fresh, interval: 0.2s}\n"),
                "jobs.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"jobs.yaml: saved; the scheduler (pid {daemon.pid}) was told to reload it\n"
    daemon.wait_for_log(f"Reloaded {path} (asked by SIGHUP): 1 added, 1 unchanged")
    wait_until(lambda: read_runs(state, "fresh"), what="the added job to run", context=daemon.log)


def test_a_lock_file_naming_another_owners_process_is_not_signalled_yet_the_save_stands(
        tmp_path, editor, edit, state):
    """A lock file another user made names a process that is not theirs: no SIGHUP goes to
    it, which is said as a warning; the edit was saved all the same (exit 0, as it says)."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("state: state.db\n" + ORIGINAL)
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(jobs), store, datetime.now(UTC))
    store.shutdown()
    lock = os.open(f"{state}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchown(lock, 65534, 65534)  # nobody's file, naming this (root's) process
        os.write(lock, f"{os.getpid()}\n".encode())
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = edit(editor("state: state.db\n" + FIXED), "jobs.yaml")
    finally:
        os.close(lock)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("jobs.yaml: saved; "), done.stdout
    assert f"names pid {os.getpid()}" in done.stderr and "not signalled" in done.stderr
    assert jobs.read_text() == "state: state.db\n" + FIXED


def test_no_change_leaves_the_file_alone(tmp_path, editor, edit):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    inode = jobs.stat().st_ino
    done = edit(editor(ORIGINAL), "jobs.yaml")
    assert (done.returncode, done.stdout) == (0, "jobs.yaml: no changes made\n")
    assert jobs.stat().st_ino == inode


def test_an_editor_that_fails_changes_nothing(tmp_path, edit):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    done = edit(Path("/bin/false"), "jobs.yaml")
    assert (done.returncode, done.stderr) == (
        1, "schedctl: the editor '/bin/false' exited with status 1; jobs.yaml is unchanged\n")
    assert jobs.read_text() == ORIGINAL


def test_a_file_changed_by_someone_else_during_the_edit_is_not_overwritten(tmp_path, editor,
                                                                          edit):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    theirs = "jobs:\n  theirs: {command: echo theirs, interval: 1h}\n"
    done = edit(editor(FIXED, meanwhile=(jobs, theirs)), "jobs.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith("schedctl: jobs.yaml was changed by someone else during the "
                                  "edit; your edit is kept in /")
    assert jobs.read_text() == theirs


def test_a_new_jobfile_is_created_private(tmp_path, editor, edit):
    done = edit(editor(FIXED), "new.yaml")
    assert done.returncode == 0, done.stderr
    created = tmp_path / "new.yaml"
    assert (created.read_text(), created.stat().st_mode & 0o777) == (FIXED, 0o600)


def test_a_symbolic_link_stays_and_the_file_it_names_is_replaced(tmp_path, editor, edit):
    real = tmp_path / "real.yaml"
    real.write_text(ORIGINAL)
    (tmp_path / "jobs.yaml").symlink_to(real)
    assert edit(editor(FIXED), "jobs.yaml").returncode == 0
    assert (tmp_path / "jobs.yaml").is_symlink() and real.read_text() == FIXED


# -- a real terminal ----------------------------------------------------------------------


class Tmux:
    """One tmux server of this test's own, 100x30, whose window runs one shell command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{name}={shlex.quote(env[name])}"
                           for name in ("PATH", "XDG_STATE_HOME") if name in env)
        # The window stays after the command ends, so that its last screen can be read.
        self.run("new-session", "-d", "-x", "100", "-y", "30", "sh", "-c",
                 f"export {exports}; {command}; sleep 60")

    def screen(self) -> str:
        return self.run("capture-pane", "-p")

    def wait_for(self, text: str) -> str:
        """The screen, once it shows ``text``."""

        def showing() -> str:
            screen = self.screen()
            return screen if text in screen else ""

        return wait_until(showing, 20, what=f"{text!r} on the terminal", context=self.screen)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    need("tmux")
    server = Tmux(f"schedctl-test-{uuid.uuid4().hex[:8]}")
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True,
                   check=False, timeout=30)


def test_a_new_jobfile_left_invalid_or_empty_is_said_not_created(tmp_path, editor, edit):
    """Not 'new.yaml is unchanged', of a file that does not exist."""
    done = edit(editor(BROKEN), "new.yaml")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        "schedctl: new.yaml was not created; your edit is kept in /")
    shutil.rmtree(Path(done.stderr.splitlines()[-1].rsplit(" ", 1)[1]).parent)
    done = edit(Path("/bin/true"), "new.yaml")
    assert (done.returncode, done.stdout) == (0, "new.yaml: no changes made; not created\n")
    assert not (tmp_path / "new.yaml").exists()


def test_an_editor_setting_a_shell_cannot_split_is_said_and_changes_nothing(tmp_path, edit):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(ORIGINAL)
    result = edit('nano "--wait', str(jobs))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "EDITOR" in result.stderr and "No closing quotation" in result.stderr
    assert jobs.read_text() == ORIGINAL
