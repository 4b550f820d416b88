"""Where the scheduler of a jobfile keeps its state, for the commands given ``-f JOBFILE``.

``schedctl run --state /var/lib/schedctl/jobs.db jobs.yaml`` (the systemd units do that)
uses a state file that the jobfile does not name, so ``schedctl list -f jobs.yaml`` would
look at the jobfile's own default and find nothing. ``run`` therefore leaves a record
where ``-f`` looks first: a small JSON file beside that default, in the running user's
state directory (``$XDG_STATE_HOME/schedctl``, else ``.local/state/schedctl`` in the
user's home as the password database has it, not as ``$HOME`` says: ``sudo`` may keep the
caller's). The record decides which state a command reads and changes, so it is private
(0600 in a 0700 directory), never read through a link, and must pass the trust rule
(owned by root or the user running schedctl, like the directories above it): another
local user cannot point root's commands at a state file of theirs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from schedctl.jobfile.loader import default_state_path, is_state_url
from schedctl.jobfile.specs import Jobfile
from schedctl.trust import check_own_file, check_trusted, open_own_file

#: The record's file name ends so, beside the jobfile's default state file.
SUFFIX = ".where"

#: A record is one short line; anything longer is not one.
MAX_BYTES = 4096


def record_path(jobfile: str | os.PathLike[str]) -> Path:
    """Where ``run`` leaves the record for ``jobfile`` and ``-f`` reads it."""
    return default_state_path(jobfile).with_suffix(SUFFIX)


def own_state(jobfile: Jobfile) -> str:
    """The state a jobfile names by itself: its ``state:`` key, else the default path."""
    if jobfile.state and is_state_url(jobfile.state):
        return jobfile.state
    if jobfile.state:
        written = Path(jobfile.state).expanduser()
        return os.fspath(written if written.is_absolute() else Path(jobfile.path).parent / written)
    return os.fspath(default_state_path(jobfile.path))


def remember(jobfile: Jobfile, location: str) -> Path | None:
    """Record that ``jobfile`` runs on ``location``; no record (and an old one removed)
    when that is the jobfile's own state, which ``-f`` finds by itself. The record's path,
    or None. OSError (or the trust rule's errors) when it cannot be written."""
    path = record_path(jobfile.path)
    if _same(location, own_state(jobfile)) or _has_password(location):
        _forget(path)  # found by -f anyway; or a password, which a record must not hold
        return None
    _make_private_directories(path.parent)
    check_trusted(path)
    text = json.dumps({"jobfile": _absolute(jobfile.path), "state": _absolute(location)})
    staging = path.with_name(path.name + ".new")
    fd = open_own_file(os.fspath(staging), os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)
    os.replace(staging, path)
    return path


def recorded_state(jobfile: str | os.PathLike[str]) -> str | None:
    """The state the last ``run`` of ``jobfile`` recorded, or None when there is no record
    (or it is for another jobfile). A record that fails the trust rule is an error that
    names it, so that nobody's commands are redirected in silence."""
    path = record_path(jobfile)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        check_own_file(os.fspath(path))  # a link: said in its words
        raise
    try:
        check_own_file(os.fspath(path), os.fstat(fd))  # the file read, and
        check_trusted(path)  # the directories above it
        text = os.read(fd, MAX_BYTES).decode("utf-8", "replace")
    finally:
        os.close(fd)
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("jobfile") != _absolute(jobfile):
        return None
    state = record.get("state")
    return state if isinstance(state, str) and state else None


def _has_password(location: str) -> bool:
    if not is_state_url(location):
        return False
    from schedctl.jobstores._pg_schema import redact

    return redact(location) != location


def _absolute(location: str | os.PathLike[str]) -> str:
    if isinstance(location, str) and is_state_url(location):
        return location
    return os.path.abspath(os.path.expanduser(location))


def _same(a: str, b: str) -> bool:
    return _absolute(a) == _absolute(b)


def _make_private_directories(directory: Path) -> None:
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        try:
            os.mkdir(each, 0o700)
        except FileExistsError:
            pass


def _forget(path: Path) -> None:
    try:
        if not path.is_symlink():
            path.unlink()
    except FileNotFoundError:
        pass
