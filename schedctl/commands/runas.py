"""Running a command as another user (the ``user:`` key), the way cron runs a user's crontab.

The user is looked up in the password database at every run, not when the jobfile is
read: a user created, renamed or given new groups later is seen by the next run. The
command gets that user's groups (``initgroups``: the primary group and every group
that lists the user), then its gid and uid; ``HOME``, ``USER``, ``LOGNAME`` and
``SHELL`` come from its password entry, and it starts in its home directory unless
the job says ``cwd``. That directory is entered after the switch, as the user, as cron
does: entered as root, a ``cwd`` the user controls (a link to a directory below one
the user may not pass) would give the job a place the user cannot reach. Everything
else is prepared before the switch, by the scheduler's user: the environment,
``env_file`` included, is read as root.

Only root may switch. A scheduler that is not root may still name itself, which
changes nothing but the four variables; any other user is refused with a reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace

from schedctl.commands.spec import CommandSpec
from schedctl.errors import SchedctlError

__all__ = ["RunAs", "UnknownUserError", "UserSwitchError", "entered_as_user", "run_as",
           "switch_problem"]

#: Run by ``/bin/sh`` as the user: enter the working directory, then become the command.
ENTER_AS_USER = ('cd -- "$1" 2>/dev/null || { printf \'schedctl: %s cannot enter the working '
                 'directory %s\\n\' "$USER" "$1" >&2; exit 125; }; shift; exec "$@"')


class UserSwitchError(SchedctlError):
    """A command cannot run as the user its job names."""


class UnknownUserError(UserSwitchError):
    """The user a job runs as is not in the password database."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no user {name!r} on this machine (not in the password database)")
        self.name = name


@dataclass(frozen=True)
class RunAs:
    """One user's identity from the password database, as a command run needs it."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        """The password entry of ``name`` and its groups; raises :class:`UnknownUserError`."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise UnknownUserError(name) from None
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir,
                   entry.pw_shell or "/bin/sh")

    @property
    def switches(self) -> bool:
        """Whether the command's credentials must be set: always as root (even to root, for
        root's own groups), never for a user running its own jobs."""
        return os.geteuid() == 0

    def allowed(self) -> bool:
        """Whether this process may run a command as this user: as root, or as itself."""
        return os.geteuid() in (0, self.uid)

    def env(self) -> dict[str, str]:
        """The variables cron sets from the password entry."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "SHELL": self.shell}

    def workdir(self, cwd: str | None) -> str:
        """``cwd`` when the job sets one; else the home directory, or ``/`` when the home
        does not exist (``nobody``'s ``/nonexistent``), so such a user can still run jobs."""
        if cwd is not None:
            return cwd
        return self.home if os.path.isdir(self.home) else "/"

    def shim_arg(self) -> str:
        """``uid:gid:g1,g2``: how the lease shim is told whom to run the command as."""
        return f"{self.uid}:{self.gid}:{','.join(map(str, self.groups))}"


def switch_problem(name: str) -> str | None:
    """Why this process cannot run a command as ``name``, or None when it can."""
    try:
        target = RunAs.lookup(name)
    except UnknownUserError as exc:
        return f"{exc}; create it (useradd {name}) or correct the name"
    if target.allowed():
        return None
    me = _user_name(os.geteuid())
    return (f"schedctl runs as {me}, and only root can run a command as another user "
            f"({name!r}); run schedctl as root, or remove user:")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def run_as(user: str | None) -> RunAs | None:
    """The user a run switches to, looked up now; raises :class:`UserSwitchError` (or
    :class:`UnknownUserError`) when this process cannot run a command as ``user``."""
    if user is None:
        return None
    runas = RunAs.lookup(user)
    if not runas.allowed():
        raise UserSwitchError(switch_problem(user) or f"cannot run as {user!r}")
    return runas


def entered_as_user(
    spec: CommandSpec, runas: RunAs | None, env: Mapping[bytes, bytes]
) -> tuple[CommandSpec, CommandSpec]:
    """``spec`` with the working directory it runs in (the user's home unless ``cwd``),
    and what to start so that the command enters it as ``runas``: a shell that changes
    into it after the switch and then becomes the command (``spec`` itself when no
    switch to another user happens). A missing directory or program is found as root
    beforehand and raised as :class:`UserSwitchError`, reported as a run not started."""
    if runas is None:
        return spec, spec
    spec = replace(spec, cwd=runas.workdir(spec.cwd))
    if not runas.switches or runas.uid == os.geteuid() or spec.cwd is None:
        return spec, spec
    if not os.path.isdir(spec.cwd):
        raise UserSwitchError(f"working directory does not exist: {spec.cwd!r}")
    program = spec.argv()[0]
    if os.sep in program:
        found = os.path.exists(os.path.join(spec.cwd, program))
    else:
        found = shutil.which(program, path=os.fsdecode(env.get(b"PATH", b"")) or None) is not None
    if not found:
        what = "shell" if isinstance(spec.command, str) else "command"
        raise UserSwitchError(f"{what} not found: {program!r}")
    return spec, replace(spec, command=("/bin/sh", "-c", ENTER_AS_USER, "schedctl", spec.cwd,
                                        *spec.argv()), cwd=None)
