"""Starting, watching and signalling the process group of one command, for ``RunningCommand``.

Kept apart from :mod:`schedctl.commands.running` so that what happens there reads as the
life of one run (start, wait, stop, result); this module holds the process-level steps it
uses: ``Popen`` in a new session, the lease shim's command line, an operator-readable
reason when a start fails, noticing the child's exit, and signalling or listing a process
group.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import threading
import time

from schedctl.clock import Clock
from schedctl.commands.pathsearch import find_program
from schedctl.commands.runas import RunAs
from schedctl.commands.spec import CommandResult, CommandSpec

# Same logger as the rest of the command runner: the start line belongs with the run's others.
_log = logging.getLogger("schedctl.commands")
_SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")
#: Tells the lease shim which inherited descriptor is the command's stdin (see shim.py).
SHIM_STDIN_FD = "_SCHEDCTL_SHIM_STDIN_FD"
#: None where the kernel or a seccomp filter lacks pidfd_open (Linux < 5.3, old Docker).
_pidfd_open = getattr(os, "pidfd_open", None)


def _start_error(exc: OSError, spec: CommandSpec) -> str:
    """Turn what Popen raised into the sentence an operator needs."""
    argv0 = spec.argv()[0]
    cwd_failed = spec.cwd is not None and exc.filename in (spec.cwd, os.fsencode(spec.cwd))
    if cwd_failed and isinstance(exc, FileNotFoundError):
        return f"working directory does not exist: {spec.cwd!r}"
    if cwd_failed and isinstance(exc, NotADirectoryError):
        return f"working directory is not a directory: {spec.cwd!r}"
    if cwd_failed and isinstance(exc, PermissionError):
        return f"permission denied: cannot enter working directory {spec.cwd!r}"
    what = "shell" if isinstance(spec.command, str) else "command"
    if (
        isinstance(exc, FileNotFoundError)
        and os.sep in argv0
        and os.path.exists(os.path.join(spec.cwd or "", argv0))
    ):
        return f"interpreter not found: the #! line of {argv0!r} names a missing program"
    if isinstance(exc, FileNotFoundError):
        return f"{what} not found: {argv0!r}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {argv0!r} is not executable"
    return f"cannot start {argv0!r}: {exc.strerror or exc}"


def _not_started(error: str, started_mono: float, clock: Clock) -> CommandResult:
    return CommandResult(
        outcome="not_started",
        exit_code=None,
        signal=None,
        started_at=None,
        finished_at=clock.now(),
        duration=time.monotonic() - started_mono,
        error=error,
    )


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or a member changed its credentials: nothing more we can do


def live_group_members(pgid: int) -> list[int]:
    """Pids of the group's processes that still run (zombies excluded: they cannot be killed)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # the common case, without reading /proc
    except PermissionError:
        pass
    return [
        int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _live_pgrp(e.name) == pgid
    ]


def _live_pgrp(pid: str) -> int | None:
    """The process group of a live process, from /proc; None for zombies and the gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    state, _ppid, pgrp = stat[stat.rfind(b")") + 2 :].split()[:3]
    return None if state in (b"Z", b"X", b"x") else int(pgrp)


def _input_fd(spec: CommandSpec) -> int | None:
    """A memory file holding ``spec.stdin``, read from its start; None without stdin.

    A file rather than a pipe: writing it never waits for a command that does not read.
    """
    if spec.stdin is None:
        return None
    fd = os.memfd_create("schedctl-stdin", os.MFD_CLOEXEC)
    try:
        view = memoryview(spec.stdin.encode("utf-8", "surrogateescape"))
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:  # a write refused (a file size limit, no memory): not kept open
        os.close(fd)
        raise
    return fd


def _close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _popen(
    spec: CommandSpec,
    env: dict[bytes, bytes],
    out_fd: int | None,
    *,
    argv: list[str],
    stdin: int | None,
    input_fd: int | None = None,
    runas: RunAs | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session; its stdin is ``input_fd`` (the job's ``stdin``) or
    /dev/null. Under the lease shim, ``stdin`` is the shim's channel: the shim hands
    ``input_fd`` to the command. With ``runas``, the child takes that user's credentials
    between fork and exec, so no other thread sees them."""
    target: int | None = out_fd
    if spec.output == "discard":
        target = _devnull()
    pass_fds: tuple[int, ...] = ()
    if input_fd is not None and stdin is None:
        stdin = input_fd
    elif input_fd is not None:
        env = {**env, SHIM_STDIN_FD.encode(): str(input_fd).encode()}
        pass_fds = (input_fd,)
    switch = runas is not None and runas.switches
    # A user's own search happens as that user, in the child; the shim (argv[0] is the
    # interpreter's path) searches for its command itself.
    executable = None if switch else find_program(argv[0], env)

    def start(executable: bytes | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            executable=executable,
            pass_fds=pass_fds,
            stdin=_devnull() if stdin is None else stdin,
            stdout=target,
            stderr=subprocess.STDOUT if spec.output != "inherit" else None,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            user=runas.uid if switch and runas else None,
            group=runas.gid if switch and runas else None,
            extra_groups=list(runas.groups) if switch and runas else None,
        )

    if executable is not None:
        try:
            return start(executable)
        except OSError:
            pass  # the child's own search decides, and words the error, as without the shortcut
    return start(None)


def _devnull() -> int:
    """One descriptor on /dev/null for every run's stdin, opened once: an open and a close
    less per run. Close-on-exec, so it reaches a child only as the descriptor it was given."""
    global _DEVNULL_FD
    if _DEVNULL_FD is None:
        with _DEVNULL_LOCK:  # two first runs at once would open two, and keep one for ever
            if _DEVNULL_FD is None:
                _DEVNULL_FD = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _DEVNULL_FD


_DEVNULL_FD: int | None = None
_DEVNULL_LOCK = threading.Lock()


def _shim_argv(spec: CommandSpec, deadline: float, runas: RunAs | None = None) -> list[str]:
    """The shim stays root (the command cannot kill its guard); it switches the command."""
    # -S skips site-packages: their .pth files cost more than the rest of the start-up.
    switch = ["--as", runas.shim_arg()] if runas is not None and runas.switches else []
    return [sys.executable, "-I", "-S", _SHIM, f"{deadline:.6f}", *switch, "--", *spec.argv()]


def _shim_env(env: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """What the shim needs to give the command exactly ``env`` (see ``shim.command_env``)."""
    return {**env, b"_SCHEDCTL_SHIM_LC_CTYPE": env.get(b"LC_CTYPE", b"")}


def _log_start(spec: CommandSpec, job_id: str, pid: int, *, shim: bool) -> None:
    if _log.isEnabledFor(logging.DEBUG):
        names = ", ".join(sorted(spec.env)) or "none"
        shim_of = "the lease shim of " if shim else ""
        command = shlex.join(spec.argv())
        _log.debug("%s: started pid %d: %s%s (env set: %s)", job_id, pid, shim_of, command, names)


class _WakeFd:
    """An eventfd owned by one thread, closed when the thread ends."""

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except (OSError, TypeError):  # TypeError: os is already torn down at exit
            pass


_WAKE = threading.local()


def thread_wake_fd() -> int:
    """The calling thread's eventfd, on which another thread's stop wakes its wait.

    One per waiting thread, made at its first run, rather than one per run: an
    eventfd and a close fewer per run. A wake-up meant for a run that has just ended
    finds the next run's wait, which only looks again and goes back to waiting.
    """
    wake = getattr(_WAKE, "wake", None)
    if wake is None:
        wake = _WAKE.wake = _WakeFd()
    return int(wake.fd)


def _open_exit_fd(pid: int) -> int | None:
    """A pidfd that polls readable when ``pid`` exits, or None if the system has none."""
    if _pidfd_open is None:
        return None
    try:
        return int(_pidfd_open(pid))
    except OSError:
        return None


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its pid cannot be reused yet)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
