"""``user:``: a command run as another user, with a real account made by ``useradd``.

No mocks: the commands are real processes, and what they print (``id``, ``pwd``, their
environment) or the files they leave behind say who they ran as.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedctl.commands.runas import RunAs, switch_problem
from schedctl.commands.runner import run_command
from schedctl.commands.spec import CommandSpec
from tests.conftest import UnixUser
from tests.test_shim import FAR, FixedLease

PROBE = 'id -u; id -g; id -G; echo "$HOME|$USER|$LOGNAME|$SHELL"; pwd'


@pytest.fixture
def user_dir(unix_user: UnixUser) -> Iterator[Path]:
    """A directory the user owns, outside root's private test tree."""
    path = Path(tempfile.mkdtemp(prefix="sct-runas-"))
    os.chown(path, unix_user.uid, unix_user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(spec: CommandSpec, *, leased: bool = False) -> tuple[str, list[str]]:
    lease = FixedLease(FAR) if leased else None
    result = run_command(spec, job_id="probe", lease=lease)
    assert result.ok, (result.error, result.output_tail)
    return result.outcome, result.output_tail.splitlines()


@pytest.mark.parametrize("leased", [False, True], ids=["direct", "under-the-lease-shim"])
def test_the_command_gets_the_users_ids_groups_environment_and_home(unix_user, leased):
    _, lines = run(CommandSpec(PROBE, user=unix_user.name), leased=leased)
    uid, gid, groups, env, cwd = lines
    assert (int(uid), int(gid)) == (unix_user.uid, unix_user.gid)
    assert {int(g) for g in groups.split()} == {unix_user.gid, unix_user.extra_gid}
    assert env == f"{unix_user.home}|{unix_user.name}|{unix_user.name}|{unix_user.shell}"
    assert cwd == unix_user.home


@pytest.mark.parametrize("leased", [False, True], ids=["direct", "under-the-lease-shim"])
def test_a_file_the_command_writes_belongs_to_the_user(unix_user, user_dir, leased):
    run(CommandSpec("echo hi > made-here", user=unix_user.name, cwd=str(user_dir)),
        leased=leased)
    made = (user_dir / "made-here").stat()
    assert (made.st_uid, made.st_gid) == (unix_user.uid, unix_user.gid)


def test_the_lease_shim_stays_root_while_its_command_runs_as_the_user(unix_user):
    # The shim is the command's parent: a guard the command cannot kill.
    _, lines = run(CommandSpec("id -u; awk '/^Uid:/ {print $2}' /proc/$PPID/status",
                               user=unix_user.name), leased=True)
    assert lines == [str(unix_user.uid), "0"]


def test_cwd_wins_over_the_home(unix_user, user_dir):
    _, lines = run(CommandSpec("pwd", user=unix_user.name, cwd=str(user_dir)))
    assert lines == [str(user_dir)]


def test_env_file_is_read_by_root_before_the_switch(unix_user, tmp_path):
    secret = tmp_path / "private" / "secret.env"  # tmp_path is root's alone: the user can't read it
    secret.parent.mkdir(mode=0o700)
    secret.write_text("TOKEN=from-the-env-file\n")
    secret.chmod(0o600)
    _, lines = run(CommandSpec('echo "$TOKEN"; cat "$ENV_PATH" 2>/dev/null || echo unreadable',
                               user=unix_user.name, env_file=str(secret),
                               env={"ENV_PATH": str(secret)}))
    assert lines == ["from-the-env-file", "unreadable"]


def test_env_may_set_home_and_shell_but_not_who_the_job_runs_as(unix_user):
    env = {"HOME": "/srv", "SHELL": "/bin/dash", "USER": "mallory", "LOGNAME": "mallory"}
    _, lines = run(CommandSpec('echo "$HOME|$SHELL|$USER|$LOGNAME"', user=unix_user.name, env=env))
    assert lines == [f"/srv|/bin/dash|{unix_user.name}|{unix_user.name}"]


def test_a_user_without_a_home_directory_starts_in_the_root_directory():
    entry = next((e for e in pwd.getpwall() if not os.path.isdir(e.pw_dir)), None)
    if entry is None or os.geteuid() != 0:
        pytest.skip("needs root and an account whose home does not exist (such as nobody)")
    _, lines = run(CommandSpec("id -u; pwd", user=entry.pw_name))
    assert lines == [str(entry.pw_uid), "/"]


def test_an_unknown_user_does_not_start_and_says_why():
    result = run_command(CommandSpec("true", user="no-such-user-sct"), job_id="probe")
    assert result.outcome == "not_started"
    assert result.error == "no user 'no-such-user-sct' on this machine (not in the password database)"


def test_switch_problem_names_a_missing_user_and_how_to_fix_it():
    assert switch_problem("no-such-user-sct") == (
        "no user 'no-such-user-sct' on this machine (not in the password database); "
        "create it (useradd no-such-user-sct) or correct the name")


def test_root_may_run_as_anyone(unix_user):
    assert switch_problem(unix_user.name) is None
    assert RunAs.lookup(unix_user.name).allowed()


def as_user(unix_user: UnixUser, func, *args) -> tuple[int, str]:
    """Call ``func(*args)`` in a forked child that has become ``unix_user``: a real
    unprivileged process without an interpreter it could not reach. Returns (exit, text)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.setgroups([unix_user.gid])
            os.setgid(unix_user.gid)
            os.setuid(unix_user.uid)
            os.dup2(write_fd, 2)
            text = func(*args)
            os.write(write_fd, str(text).encode())
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - the child reports whatever happened
            os.write(write_fd, f"{type(exc).__name__}: {exc}".encode())
            code = 99
        os._exit(code)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


def test_not_root_a_user_may_name_itself_but_no_one_else(unix_user):
    other = pwd.getpwuid(0).pw_name
    code, text = as_user(unix_user, lambda: repr((switch_problem(unix_user.name),
                                                  switch_problem(other))))
    assert code == 0, text
    assert text == repr((None, (
        f"schedctl runs as {unix_user.name}, and only root can run a command as another "
        f"user ({other!r}); run schedctl as root, or remove user:")))


def test_not_root_a_command_for_another_user_does_not_start(unix_user):
    def start() -> str:
        result = run_command(CommandSpec("true", user="root"), job_id="probe")
        return f"{result.outcome}: {result.error}"

    code, text = as_user(unix_user, start)
    assert (code, text) == (0, (f"not_started: schedctl runs as {unix_user.name}, and only "
                                "root can run a command as another user ('root'); run schedctl "
                                "as root, or remove user:"))


@pytest.mark.parametrize("leased", [False, True], ids=["direct", "under-the-lease-shim"])
def test_a_user_job_reads_its_stdin_text(unix_user, leased):
    _, lines = run(CommandSpec("id -un; cat", user=unix_user.name, stdin="one\ntwo\n"),
                   leased=leased)
    assert lines == [unix_user.name, "one", "two"]
