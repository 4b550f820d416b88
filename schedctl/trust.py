"""Whether a file may decide what runs: cron's crontab rule and sshd's StrictModes, in one place.

A scheduler runs commands with its own rights, usually root's. Whoever can change the
jobfile, an ``env_file``, a module of a ``call:`` job, a crontab, or the state file, its
companions and the directories holding them, can run commands with those rights. So every
reader of something that decides what runs calls :func:`check_trusted` first, at every
read (a reload too), and files schedctl keeps for itself are opened with
:func:`open_own_file`, which never follows a symbolic link.

The rule, for whatever user runs schedctl: a file is trusted when it is owned by root or
by that user, and neither its group nor others may write it; every directory on its path
(symbolic links followed, each link's own directory included) is owned by root or that
user and is not writable by group or others, unless it is sticky like ``/tmp``, where
only the owner of an entry may replace it, and then the entry looked up in it must be
owned by root or that user too. ``--insecure`` is the only way around the rule, and
each file it lets through is logged as a warning.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from schedctl.errors import SchedctlError

#: Symbolic links followed while checking one path before giving up, as the kernel does.
MAX_LINKS = 40

_logger = logging.getLogger("schedctl.trust")
_state_lock = threading.Lock()
_insecure = False
_warned: set[str] = set()


class UntrustedFileError(SchedctlError):
    """A file that decides what runs could be changed by a user other than root or us."""

    exit_code = 2

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: not trusted: {problem}; or pass --insecure to run anyway")
        self.path = path
        self.problem = problem


class OwnFileError(SchedctlError):
    """A file schedctl keeps for itself is a symbolic link, or not what schedctl made."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def set_insecure(enabled: bool) -> None:
    """Turn the rule off for this process (``schedctl run --insecure``); refusals become
    warnings, once per file and problem."""
    global _insecure
    with _state_lock:
        _insecure = enabled
        _warned.clear()


def is_insecure() -> bool:
    return _insecure


def check_trusted(path: str | os.PathLike[str], *, insecure: bool | None = None) -> None:
    """Raise :class:`UntrustedFileError` unless ``path`` and the directories leading to it
    pass the rule of this module. Every reader of something that decides what runs calls
    this: the jobfile (at start and at every reload), ``env_file`` (at every run), the
    directory of ``call:`` modules, crontab files, and the state file with its companions.

    A missing file passes once the directories that exist on its path do (its reader says
    that it is missing, in its own words). ``insecure`` None means this process's setting
    (:func:`set_insecure`); with it on, a problem is logged as a warning instead.
    """
    problem = trust_problem(path)
    if problem is not None:
        check_trusted_problem(os.fspath(path), problem, insecure)


def trust_problem(path: str | os.PathLike[str], *, uid: int | None = None) -> str | None:
    """What makes ``path`` untrusted, with the fix, or None when it passes; for schedctl
    run by ``uid`` (default: this process's user)."""
    return _walk(os.fspath(path), uid)[0]


def open_trusted(
    path: str | os.PathLike[str], *, insecure: bool | None = None, uid: int | None = None,
    flags: int = 0,
) -> int:
    """A descriptor open for reading on ``path``, which passes the rule as the very file it
    is: reached first (``O_PATH`` opens nothing), checked, then opened through that
    reference. A check of the path before an open by path would miss a file created in a
    sticky directory between them, or a path that leads elsewhere than it reads
    (``/proc/PID/fd/N``); an open before the check would let another user's link make
    root open what it chose (a watchdog arms, a tape rewinds, a FIFO's writer goes on).

    An open that fails raises the trust problem if any, else its OSError. An object the
    check cannot reach by name (a pipe: ``/dev/stdin``) must be owned by root or the running
    user (or ``uid``). ``flags`` are added to ``O_RDONLY``. The open never waits
    (``O_NONBLOCK``, ``O_NOCTTY``: root's own FIFO without a writer); see :func:`_block_reads`.
    """
    name = os.fspath(path)
    for _ in range(_OPEN_ATTEMPTS):
        try:
            fd = os.open(name, _REACH_FLAGS)
        except OSError:
            check_trusted(name, insecure=insecure)
            raise
        try:
            problem, reached = _walk(name, uid)
            opened = os.fstat(fd)
            if reached is not None and (reached.st_dev, reached.st_ino) != (opened.st_dev,
                                                                             opened.st_ino):
                continue  # replaced between the open and the check: once more
            if problem is None and reached is None:
                problem = _opened_problem(opened, uid)
            if problem is not None:
                check_trusted_problem(name, problem, insecure)
            # The very object reached, whatever became of its path since.
            opened_fd = os.open(f"/proc/self/fd/{fd}", _OPEN_FLAGS | flags)
        finally:
            os.close(fd)
        return _block_reads(opened_fd, flags)
    check_trusted_problem(name, _REPLACED, insecure)
    return _block_reads(os.open(name, _OPEN_FLAGS | flags), flags)  # --insecure: as it is


def _block_reads(fd: int, flags: int) -> int:
    """``fd``, blocking again unless ``flags`` ask otherwise, if a regular file or a pipe:
    there a read that waits is one that ends (a FIFO whose writer is gone reads as empty)."""
    try:
        mode = os.fstat(fd).st_mode
        if not flags & os.O_NONBLOCK and (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


_REPLACED = ("the file opened is not the one its path leads to (replaced at every try, or "
             "the path leads elsewhere than it reads); try again")
#: How often :func:`open_trusted` opens again a file replaced between its open and check.
_OPEN_ATTEMPTS = 3
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
#: Finds a file without opening it: no device acts, no FIFO's writer is let through.
_REACH_FLAGS = os.O_PATH | os.O_CLOEXEC


def check_trusted_problem(path: str, problem: str, insecure: bool | None = None) -> None:
    """Raise :class:`UntrustedFileError` for ``problem``, or warn under ``--insecure``."""
    if insecure if insecure is not None else _insecure:
        _warn_once(path, problem)
        return
    raise UntrustedFileError(path, problem)


def _opened_problem(info: os.stat_result, uid: int | None) -> str | None:
    """What is wrong with an open object the check could not reach by name."""
    owners = trusted_uids(uid)
    if info.st_uid not in owners:
        return (f"it leads to an object owned by {_user(info.st_uid)}, not by "
                f"{_owners_text(owners)}")
    if (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)) and _writable_by_others(info):
        return ("it leads to an object that group or others may write (mode "
                f"{stat.filemode(info.st_mode)})")
    return None


def _walk(path: str, uid: int | None) -> tuple[str | None, os.stat_result | None]:
    """The problem of ``path`` (None: it passes), and what its last lookup reached (None
    when it found nothing there, or a problem stopped the walk first)."""
    owners = trusted_uids(uid)
    reached = None
    try:
        for step in _lookups(path):
            problem = _step_problem(step, owners, uid)
            if problem is not None:
                return problem, None
            reached = step.info if step.last else None
    except OSError as exc:
        return f"cannot check {exc.filename or path}: {exc.strerror or exc}", None
    return None, reached


def import_directory_problem(directory: str | os.PathLike[str]) -> str | None:
    """What keeps ``directory`` off ``sys.path``, or None: it must pass the rule and be
    closed to group and others even if sticky, since in a sticky directory anyone may
    still add a module (or a package, which wins over a module of the same name)."""
    problem = trust_problem(directory)
    if problem is not None:
        return problem
    info = os.stat(directory)
    if _writable_by_others(info):
        return (f"group or others may add files to it (mode {stat.filemode(info.st_mode)}); "
                f"fix: chmod go-w {os.fspath(directory)}")
    return None


def allowed_import_directory(directory: str | os.PathLike[str]) -> bool:
    """Whether modules may be imported from ``directory``: it passes
    :func:`import_directory_problem`, or ``--insecure`` is on (then with a warning)."""
    problem = import_directory_problem(directory)
    if problem is not None and _insecure:
        _warn_once(os.fspath(directory), f"modules are imported from it although {problem}")
        return True
    return problem is None


def user_name() -> str:
    """The name of the user running schedctl, for messages."""
    return _user(os.geteuid())


def trusted_uids(uid: int | None = None) -> frozenset[int]:
    """Root and the user running schedctl: the only owners a trusted file may have."""
    return frozenset({0, os.geteuid() if uid is None else uid})


@dataclass(frozen=True)
class _Step:
    """One directory entry looked up on the way to a file: the directory it sits in, the
    entry (None when it does not exist), and whether it is the file itself."""

    directory: str
    directory_info: os.stat_result
    entry: str
    info: os.stat_result | None
    last: bool


def _lookups(path: str) -> Iterator[_Step]:
    """Every lookup the kernel makes to reach ``path``, symbolic links followed by hand
    (a link's target may lie in other directories, which must pass the rule as well)."""
    pending = _parts(os.path.join(os.getcwd(), path))
    current = "/"
    links = 0
    while pending:
        name = pending.pop()
        if name == "..":
            current = os.path.dirname(current)
            continue
        entry = os.path.join(current, name)
        directory_info = os.stat(current)
        try:
            info: os.stat_result | None = os.lstat(entry)
        except FileNotFoundError:
            info = None
        link = info is not None and stat.S_ISLNK(info.st_mode)
        yield _Step(current, directory_info, entry, info, last=not pending and not link)
        if info is None:
            return
        if link:
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(entry)
            if target.startswith("/"):
                current = "/"
            pending.extend(_parts(target))
            continue
        current = entry
        if pending and not stat.S_ISDIR(info.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), entry)


def _parts(path: str) -> list[str]:
    """The names of ``path``, last first (a stack), without empty and ``.`` names."""
    return [name for name in reversed(path.split("/")) if name not in ("", ".")]


def _step_problem(step: _Step, owners: frozenset[int], uid: int | None) -> str | None:
    problem = _directory_problem(step.directory, step.directory_info, owners, uid)
    if problem is not None:
        return problem
    info = step.info
    if info is None:
        return None
    sticky_open = _writable_by_others(step.directory_info)  # passed: so it is sticky
    if (step.last or sticky_open) and info.st_uid not in owners:
        what = "it is" if step.last else f"{step.entry} is"
        return (f"{what} owned by {_user(info.st_uid)}, not by {_owners_text(owners)}; "
                f"fix: chown {_fixer(uid)} {step.entry}")
    # A device's mode says who may use it, not who may change what reading it gives:
    # /dev/null is writable by all and still reads as nothing.
    readable_data = stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)
    if step.last and readable_data and _writable_by_others(info):
        return (f"group or others may write it (mode {stat.filemode(info.st_mode)}, owner "
                f"{_user(info.st_uid)}); fix: chmod go-w {step.entry}")
    # Where anyone may add a name, another name of a file is anyone's choice of file (a
    # hard link to root's secrets, where fs.protected_hardlinks is off), as cron holds.
    if step.last and sticky_open and stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        return (f"it has {info.st_nlink} names (hard links) and sits in {step.directory}, "
                f"where anyone may add one; fix: give it a name of its own (cp {step.entry} "
                f"{step.entry}.new && mv {step.entry}.new {step.entry})")
    return None


def _directory_problem(
    directory: str, info: os.stat_result, owners: frozenset[int], uid: int | None
) -> str | None:
    if info.st_uid not in owners:
        return (f"its directory {directory} is owned by {_user(info.st_uid)}, not by "
                f"{_owners_text(owners)}; fix: chown {_fixer(uid)} {directory}")
    if _writable_by_others(info) and not info.st_mode & stat.S_ISVTX:
        return (f"group or others may write its directory {directory} (mode "
                f"{stat.filemode(info.st_mode)}, owner {_user(info.st_uid)}); "
                f"fix: chmod go-w {directory}")
    return None


def _writable_by_others(info: os.stat_result) -> bool:
    return bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _fixer(uid: int | None) -> str:
    """Whom to give a file to: the user schedctl runs as."""
    return _user(os.geteuid() if uid is None else uid)


def _owners_text(owners: frozenset[int]) -> str:
    others = sorted(owners - {0})
    return "root" + "".join(f" or {_user(uid)} (the user running schedctl)" for uid in others)


def _warn_once(path: str, problem: str) -> None:
    key = f"{path}\0{problem}"
    with _state_lock:
        if key in _warned:
            return
        _warned.add(key)
    _logger.warning("%s: not trusted, used anyway (--insecure): %s", path, problem)


# -- files schedctl keeps for itself -------------------------------------------------------------


def open_own_file(path: str, flags: int = os.O_RDWR, mode: int = 0o600) -> int:
    """Open (creating it with ``mode`` if missing) a file that schedctl keeps for itself:
    a lock file, a state file. Never through a symbolic link (``O_NOFOLLOW``), a new one
    with ``O_EXCL`` so its mode is set at creation, and an existing one only if it is a
    regular file with a single name, owned by root or the running user and writable by
    nobody else; anything else is an :class:`OwnFileError` naming it."""
    base = (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, base | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, base)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OwnFileError(path, _LINK_PROBLEM) from None
        raise
    try:
        check_own_file(path, os.fstat(fd))
        if flags & os.O_TRUNC:  # only once it is known to be ours
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


_LINK_PROBLEM = ("is a symbolic link where schedctl keeps a file of its own; schedctl never "
                 "follows one there. Remove the link (and look into who made it)")


def check_not_link(path: str) -> None:
    """Raise :class:`OwnFileError` if ``path`` is a symbolic link: where schedctl expects a
    file of its own, a link would redirect what it writes."""
    if os.path.islink(path):
        raise OwnFileError(path, _LINK_PROBLEM)


def check_own_file(path: str, info: os.stat_result | None = None) -> None:
    """Raise :class:`OwnFileError` if ``path``, when it exists, is not a file schedctl could
    have made: a symbolic link, not a regular file, a second name of another file (a hard
    link), owned by another user, or writable by group or others (these last two are only
    warnings under ``--insecure``)."""
    if info is None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
    if stat.S_ISLNK(info.st_mode):
        raise OwnFileError(path, _LINK_PROBLEM)
    if not stat.S_ISREG(info.st_mode):
        raise OwnFileError(path, f"is not a regular file (mode {stat.filemode(info.st_mode)}); "
                                 "move it away")
    if info.st_nlink != 1:
        raise OwnFileError(path, f"has {info.st_nlink} names (hard links); schedctl writes only "
                                 "files of its own. Remove it and let schedctl create it again")
    owners = trusted_uids()
    problem = None
    if info.st_uid not in owners:
        problem = (f"is owned by {_user(info.st_uid)}, not by {_owners_text(owners)}; "
                   f"fix: chown {_user(os.geteuid())} {path}")
    elif _writable_by_others(info):
        problem = (f"group or others may write it (mode {stat.filemode(info.st_mode)}); "
                   f"fix: chmod go-w {path}")
    if problem is not None and _insecure:
        _warn_once(path, problem)
    elif problem is not None:
        raise OwnFileError(path, problem)
