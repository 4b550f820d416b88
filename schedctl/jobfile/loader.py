"""The jobfile: YAML with line marks -> frozen dataclasses, every problem reported at once.

A jobfile looks like::

    timezone: Europe/Berlin
    defaults: {misfire_grace_time: 5m}
    executors: {heavy: {type: processpool, max_workers: 2}}
    jobs:
      backup:
        command: /usr/local/bin/backup --all
        cron: "30 2 * * *"
      report:
        call: reports:weekly
        interval: {hours: 1, minutes: 30}

Reading rules worth knowing:

* Keys are read as written: a job ``123:`` gets the id '123' and a job ``on:``
  the id 'on' (YAML 1.1 would make them the integer 123 and True). Job ids are
  made of letters, digits and ``_ . @ : -``, since they are typed on command
  lines. Text fields take unquoted values as written too: ``description: no``,
  ``command: true``, ``env: {PORT: 080, DEBUG: yes}`` give 'no', 'true', '080', 'yes'.
* ``<<: *anchor`` merge keys work; a key written in the mapping itself wins.
* ``defaults`` holds any job key and sits under every job; a job's own key
  wins, ``env`` mappings merge, and a job that names its own action (or
  trigger) drops the default's action (or trigger). Keys from ``defaults``
  that do not apply to a job (``args`` for a command, ``jitter`` for a date)
  are ignored; written in the job itself they are problems.
* Validation builds each job's real trigger, so ``'0 0 30 2 *'`` is refused
  here, with its line, rather than when the scheduler starts; and it imports
  each ``call:`` target (see ``check_imports``). A ``date:`` in the past is fine.
* Null means "not set" for optional keys (``timezone:``, ``cwd:``); for
  ``misfire_grace_time`` null (or ``none``) means "no limit".
* ``on_failure``, ``on_recovery`` and ``on_output`` in ``defaults`` apply to every job; a job's
  own list replaces the default one (``on_failure: []`` turns it off).
* ``cron: "@reboot"`` is not a cron trigger but its own kind, ``reboot``: the job
  runs once after each boot of the machine, and has no fire times.
"""


from __future__ import annotations

import errno
import os
import pwd
import stat
from pathlib import Path

from schedctl.errors import SchedctlError
from schedctl.jobfile.check import assemble
from schedctl.jobfile.digests import sha256
from schedctl.jobfile.specs import Jobfile
from schedctl.jobfile.statelocation import StateLocationError, is_state_url
from schedctl.jobfile.yamlmarks import Problem, compose
from schedctl.trust import open_trusted

__all__ = [
    "MAX_BYTES",
    "JobfileError",
    "Problem",
    "StateLocationError",
    "default_state_path",
    "is_state_url",
    "load_jobfile",
    "parse_jobfile",
    "resolve_state",
]


#: Larger files are refused unread: a jobfile of 1,000 jobs is about 100 KiB.
MAX_BYTES = 1024 * 1024


class JobfileError(SchedctlError):
    """The jobfile cannot be used; ``problems`` lists everything wrong with it, in file order."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def parse_jobfile(
    text: str | bytes, filename: str = "<jobfile>", *, check_imports: bool = True
) -> Jobfile:
    """Read a jobfile's text; raise :class:`JobfileError` listing every problem in it.

    With ``check_imports`` each ``call:`` target is imported, so a typo is found
    before deploying rather than at 2:30 in the morning; turn it off where the
    jobs' code is not installed (tests, validating on another machine).
    """
    if len(text) > MAX_BYTES:
        raise JobfileError([Problem(filename, 0, 0, "", _too_large(len(text)))])
    if isinstance(text, bytes):
        text = _decode(text, filename)
    root, problems = compose(text, filename)
    if root is None and not problems:
        problems = [Problem(filename, 1, 1, "", "the jobfile is empty; it needs a 'jobs' mapping")]
    if root is None:
        raise JobfileError(problems)
    values, more = assemble(root, filename, check_imports=check_imports)
    problems = sorted(set(problems + more), key=lambda p: (p.line, p.column, p.key_path))
    if problems:
        raise JobfileError(problems)
    return Jobfile(path=filename, **values)


def load_jobfile(
    path: str | os.PathLike[str], *, check_imports: bool = True, check_trust: bool = False,
) -> Jobfile:
    """Read and validate the jobfile at ``path`` (see :func:`parse_jobfile`).

    An oversized file is refused before it is read, so ``jobs.yaml`` pointing
    at a 50 MB log costs nothing. With ``check_trust``, the file read is the file that
    passed :func:`schedctl.trust.open_trusted`, not one put in its place after a check.
    """
    name = os.fspath(path)
    try:
        with os.fdopen(open_for_reading(name, check_trust), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise JobfileError([Problem(name, 0, 0, "", _too_large(size))])
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise JobfileError(
            [Problem(name, 0, 0, "", f"cannot read the jobfile: {reason}")]
        ) from None
    return parse_jobfile(data, name, check_imports=check_imports)


def open_for_reading(path: str, check_trust: bool) -> int:
    """A descriptor on ``path``: through the trust rule's own open when ``check_trust``.
    Otherwise (``validate``, which only warns) never on a device, which is refused
    unopened: opening one may act (a watchdog arms, a tape rewinds), and in a sticky
    directory another user's link may lead to one. A terminal that is our own standard
    input (``validate /dev/stdin`` typed in) is the exception."""
    if check_trust:
        return open_trusted(path)
    reached = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        info = os.fstat(reached)
        if (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)) and not _our_stdin(info):
            kind = "character device" if stat.S_ISCHR(info.st_mode) else "block device"
            raise OSError(errno.ENODEV, f"it is a device ({kind}), not a file; name a file")
        fd = os.open(f"/proc/self/fd/{reached}",
                     os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    finally:
        os.close(reached)
    os.set_blocking(fd, True)  # a FIFO without a writer reads as empty, without waiting
    return fd


def _our_stdin(info: os.stat_result) -> bool:
    try:
        ours = os.fstat(0)
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (info.st_dev, info.st_ino)


def _too_large(size: int) -> str:
    shown = f"{size / 1024 / 1024:.1f} MiB" if size >= 10 * 1024 * 1024 else f"{size:,} bytes"
    return f"the jobfile is {shown}; the limit is 1 MiB"


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        message = f"byte 0x{data[start]:02x} is not UTF-8; save the jobfile as UTF-8"
        raise JobfileError([Problem(filename, line, column, "", message)]) from None


def default_state_path(jobfile_path: str | os.PathLike[str]) -> Path:
    """Where a jobfile's state lives unless told otherwise.

    ``$XDG_STATE_HOME/schedctl/<stem>-<hash>.db`` (else :func:`state_home`); the hash
    of the absolute path keeps two ``jobs.yaml`` in different directories from sharing,
    and thus corrupting, one state store.
    """
    absolute = Path(jobfile_path).expanduser().resolve()
    digest = sha256(str(absolute).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return state_home() / "schedctl" / f"{absolute.stem}-{digest}.db"


def state_home() -> Path:
    """``$XDG_STATE_HOME``, else ``.local/state`` in the home directory of the user
    running schedctl as the password database has it, not as ``$HOME`` says: ``sudo`` may
    keep the caller's ``HOME``, and root's state would land in the caller's home (and then
    be refused as a file another user could change)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says to ignore a relative value: it would depend on the cwd.
    if os.path.isabs(base):
        return Path(base)
    try:
        home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:  # a uid without an entry (a container's): HOME is all there is
        home = Path.home()
    return home / ".local" / "state"


def resolve_state(cli_state: str | os.PathLike[str] | None, jobfile: Jobfile) -> Path | str:
    """The state store to use, first found: ``--state``, ``$SCHEDCTL_STATE``, the jobfile's
    ``state:`` (relative to the jobfile's directory, so it does not depend on the cwd),
    then :func:`default_state_path`. ``~`` is expanded in each. A ``postgresql://``
    URL comes back as it is, a str; a file as a Path."""
    if cli_state:
        return _state_location(cli_state)
    from_env = os.environ.get("SCHEDCTL_STATE")
    if from_env:
        return _state_location(from_env)
    if jobfile.state:
        if is_state_url(jobfile.state):
            return jobfile.state
        written = Path(jobfile.state).expanduser()
        return written if written.is_absolute() else Path(jobfile.path).parent / written
    return default_state_path(jobfile.path)


def _state_location(value: str | os.PathLike[str]) -> Path | str:
    if isinstance(value, str) and is_state_url(value):
        return value
    if isinstance(value, str) and "://" in value:
        raise StateLocationError(value)
    return Path(value).expanduser()
