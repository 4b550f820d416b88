"""Run one command under a lease: kill it before the database can give the lease to another node.

``python -I -S shim.py DEADLINE [--as UID:GID:GROUPS] -- ARGV...``: DEADLINE is an
absolute CLOCK_MONOTONIC time in seconds (a clock all processes of a host share); each
line on stdin replaces it. With ``--as`` the command runs with those credentials (groups
comma-separated) while the shim stays root, so the command cannot kill its guard. When it passes (the node froze, or lost the database) or stdin ends (the node
died), the shim SIGKILLs its process group, itself and the command included.

Stdlib only, no site: it starts fast and cannot be broken by schedctl's imports. The
runner's timeout and shutdown signals reach the whole group; the shim leaves them to
the command (no-op handlers, not SIG_IGN, which exec would pass on) and relays its end.
"""

from __future__ import annotations

# The C half of the signal module: the module itself imports enum, 5 ms of CPU a run.
import _signal as signal  # type: ignore[import-not-found,unused-ignore]
import math
import os
import select
import sys
import time

TYPE_CHECKING = False  # mypy reads this as True; importing typing would cost 2-3 ms a run
if TYPE_CHECKING:
    from typing import Any, NoReturn

LEASE_LOST = b"schedctl: lease lost (the node could not renew it in time); killing the command\n"
NODE_GONE = b"schedctl: the scheduler went away; killing the command\n"
NO_PIDFD = b"schedctl: cannot watch the command (no pidfd_open); killing the command\n"
MAX_WAIT_MS = 3_600_000  # poll() rejects huge timeouts; the loop simply goes round again


def kill_group(why: bytes) -> NoReturn:
    """Say why on stderr, then SIGKILL the group, this process included."""
    try:
        os.write(2, why)
    except OSError:
        pass  # the reader died with the node: the kill matters, the message does not
    os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(137)  # not reached: a SIGKILL to our own group ends us before killpg returns


def parse_deadline(text: str | bytes) -> float | None:
    """A finite float, else None: a malformed line must neither end nor disable the guard."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def command_env() -> dict[str, str]:
    """The environment the runner built for the command, without what this interpreter added.

    Python turns a C locale into C.UTF-8 in LC_CTYPE (PEP 538) and -I cannot stop it, so
    the runner passes the command's own LC_CTYPE ("" for none) in _SCHEDCTL_SHIM_LC_CTYPE,
    a private variable the command never sees; nor does it see _SCHEDCTL_SHIM_STDIN_FD.
    """
    env = dict(os.environ)
    env.pop("_SCHEDCTL_SHIM_STDIN_FD", None)
    lc_ctype = env.pop("_SCHEDCTL_SHIM_LC_CTYPE", None)
    if lc_ctype is not None:
        env.pop("LC_CTYPE", None)
        if lc_ctype:
            env["LC_CTYPE"] = lc_ctype
    return env


def stdin_actions() -> list[tuple[Any, ...]]:
    """The command's stdin: the job's ``stdin`` text, inherited as the descriptor that
    _SCHEDCTL_SHIM_STDIN_FD names, or else /dev/null (the shim's own stdin is the node's)."""
    inherited = dict(os.environ).pop("_SCHEDCTL_SHIM_STDIN_FD", "")
    if inherited.isdigit():
        fd = int(inherited)
        return [(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_CLOSE, fd)]
    return [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]


def spawn(argv: list[str]) -> int:
    """Start the command; posix_spawn, as importing subprocess costs 6 ms a run."""
    return os.posix_spawnp(
        argv[0],
        argv,
        command_env(),
        file_actions=stdin_actions(),
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # ignored by Python, not by the command
    )


def spawn_as(argv: list[str], credentials: tuple[int, int, list[int]]) -> int:
    """Start the command as another user: fork, then in the child take the stdin that
    :func:`stdin_actions` would give it, set groups, gid and uid (in that order: after
    setuid the others are no longer allowed) and exec."""
    uid, gid, groups = credentials
    env = command_env()
    child = os.fork()
    if child:
        return child
    try:  # the child: from here on, never return into the shim's code
        inherited = dict(os.environ).get("_SCHEDCTL_SHIM_STDIN_FD", "")
        source = int(inherited) if inherited.isdigit() else os.open(os.devnull, os.O_RDONLY)
        os.dup2(source, 0)
        os.close(source)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT,
                       signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"schedctl: cannot start {argv[0]!r}: {exc.strerror}\n".encode())
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
    os._exit(126)  # not reached: exec either replaced this process or raised


def parse_credentials(text: str) -> tuple[int, int, list[int]]:
    """``UID:GID:G1,G2`` -> (uid, gid, [g1, g2]); ValueError when malformed."""
    uid, gid, groups = text.split(":")
    return int(uid), int(gid), [int(group) for group in groups.split(",") if group]


def watch(child: int, pidfd: int, deadline: float) -> int:
    """Wait for the child's exit, new deadlines or the end of stdin; return the returncode."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(0, select.POLLIN)
    pending = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_group(LEASE_LOST)
        ready = dict(poller.poll(min(math.ceil(left * 1000), MAX_WAIT_MS)))
        if pidfd in ready:  # first: a command that has already ended is relayed, not killed
            return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        if 0 in ready:
            chunk = os.read(0, 4096)
            if not chunk:
                kill_group(NODE_GONE)
            *lines, pending = (pending + chunk).split(b"\n")
            for value in map(parse_deadline, lines):
                deadline = deadline if value is None else value


def relay(returncode: int) -> NoReturn:
    """End the way the command ended, so the runner reports its exit code or its signal."""
    if returncode >= 0:
        sys.exit(returncode)
    signum = -returncode
    if signum not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # only for a signal whose default action does not end a process


def main(args: list[str]) -> NoReturn:
    deadline = parse_deadline(args[0]) if args else None
    credentials = None
    try:
        if len(args) > 2 and args[1] == "--as":
            credentials, args = parse_credentials(args[2]), [args[0], *args[3:]]
    except ValueError:
        deadline = None
    if deadline is None or len(args) < 3 or args[1] != "--":
        sys.exit("usage: shim.py DEADLINE [--as UID:GID:GROUPS] -- COMMAND [ARG...]")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: None)
    if deadline <= time.monotonic():
        kill_group(LEASE_LOST)  # never start a command whose lease is already gone
    try:
        child = spawn(args[2:]) if credentials is None else spawn_as(args[2:], credentials)
    except OSError as exc:
        os.write(2, f"schedctl: cannot start {args[2]!r}: {exc.strerror}\n".encode())
        sys.exit(127 if isinstance(exc, FileNotFoundError) else 126)  # as a shell does
    try:
        pidfd = os.pidfd_open(child)
    except (AttributeError, OSError):  # Linux < 5.3 or a strict seccomp filter
        kill_group(NO_PIDFD)  # an unwatched command is exactly what the shim exists to prevent
    relay(watch(child, pidfd, deadline))


if __name__ == "__main__":
    main(sys.argv[1:])
