"""Fixtures of the security suite: real second users, a directory tree they can reach, and
the real ``schedctl`` run as root (or, forked, as an unprivileged service user).

The users are made with ``useradd`` once per session and removed at its end; only the tests
that need them skip when the suite does not run as root.
"""

from __future__ import annotations

import grp
import importlib
import os
import pkgutil
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import SCHEDCTL, clean_env
from tests.cli.helpers import Daemon, wait_until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a second user needs root")


@dataclass(frozen=True)
class User:
    """A real local account: what ``useradd`` made."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def sh(self, script: str, *, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
        """Run ``script`` with ``/bin/sh`` as this user, as an attacker at a shell would."""
        result = subprocess.run(
            ["/bin/sh", "-c", script], user=self.uid, group=self.gid, extra_groups=list(self.groups),
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/"}, cwd=cwd,
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert result.returncode == 0, f"as {self.name}: {script}\n{result.stderr}"
        return result


@dataclass(frozen=True)
class Users:
    attacker: User  # an unprivileged local user who wants to run commands as someone else
    runner: User  # an unprivileged service user that runs schedctl
    shared_group: int  # a group of both, as a deployment group would be


def _useradd(name: str) -> User:
    subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/sh", name],
                   check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    return User(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="session")
def users() -> Iterator[Users]:
    if os.geteuid() != 0:
        pytest.skip("making a second user needs root")
    tag = f"{os.getpid() % 100000}"
    made: list[str] = []
    group = f"sct-deploy{tag}"
    try:
        attacker = _useradd(f"sct-attacker{tag}")
        made.append(attacker.name)
        runner = _useradd(f"sct-runner{tag}")
        made.append(runner.name)
        subprocess.run(["groupadd", group], check=True, capture_output=True)
        gid = grp.getgrnam(group).gr_gid
        attacker = User(attacker.name, attacker.uid, attacker.gid, (gid,))
        yield Users(attacker=attacker, runner=runner, shared_group=gid)
    finally:
        for name in made:
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)


@pytest.fixture
def site() -> Iterator[Path]:
    """A root-owned 0755 directory under /tmp: reachable by every user, as /etc and /srv
    are, unlike pytest's tmp_path (0700). Removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="schedctl-security-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_dir(path: Path, mode: int, owner: int = 0, group: int = -1) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, owner, group)
    path.chmod(mode)
    return path


def write(path: Path, text: str, mode: int = 0o644, owner: int = 0, group: int = -1) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    os.chown(path, owner, group)
    path.chmod(mode)
    return path


@pytest.fixture
def cli_env(site: Path) -> dict[str, str]:
    return clean_env(site)


@pytest.fixture
def schedctl(site: Path, cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real executable, as root, in ``site``."""

    def run(*args: object, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SCHEDCTL, *map(str, args)], cwd=site, env=cli_env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    return run


@pytest.fixture
def scheduler(tmp_path: Path, site: Path, cli_env: dict[str, str]) -> Iterator[Callable[..., Daemon]]:
    """``schedctl run JOBFILE [ARGS]`` as root, in its own process group; killed at teardown."""
    started: list[Daemon] = []

    def start(jobfile: Path, *args: object, ready: bool = True) -> Daemon:
        log = tmp_path / f"run-{len(started)}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen([SCHEDCTL, "run", str(jobfile), *map(str, args)], cwd=site,
                                    env=cli_env, stdin=subprocess.DEVNULL, stdout=stderr,
                                    stderr=stderr, start_new_session=True)
        daemon = Daemon(proc, log)
        started.append(daemon)
        return daemon.wait_ready() if ready else daemon

    yield start
    for daemon in started:
        daemon.kill()


class ForkedProcess:
    """Enough of Popen for Daemon: a child forked from this process (pid, poll, signals)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def wait(self, timeout: float | None = None) -> int:
        wait_until(lambda: self.poll() is not None, timeout or 30.0, what=f"pid {self.pid} to exit")
        assert self.returncode is not None
        return self.returncode


def _import_schedctl() -> None:
    """Import every module of schedctl (and so the standard library modules they import):
    a child that has become another user may not be able to read them any more."""
    import schedctl

    for module in pkgutil.walk_packages(schedctl.__path__, "schedctl."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    for name in ("tzlocal", "concurrent.futures.thread", "encodings.utf_8_sig", "encodings.ascii",
                 "encodings.latin_1"):
        importlib.import_module(name)


def fork_schedctl_as(user: User, args: list[str], *, cwd: Path, log: Path,
                     env: dict[str, str]) -> Daemon:
    """Run ``schedctl ARGS`` as ``user`` in a child forked from this process, in its own
    session, its output in ``log``. Forked rather than executed: the interpreter may sit
    where that user cannot reach it (a home directory), but what runs is the real CLI."""
    log.touch()
    os.chown(log, user.uid, user.gid)
    _import_schedctl()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (pytest replaced them)
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.setsid()
            os.setgroups(list(user.groups))
            os.setgid(user.gid)
            os.setuid(user.uid)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            from schedctl.cli import main

            main(args, prog_name="schedctl")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - the child reports whatever ended it
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return Daemon(ForkedProcess(pid), log)  # type: ignore[arg-type]
