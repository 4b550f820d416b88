"""Finding and reading crontab files: which format a path is in, which files cron reads.

``/etc/crontab`` and the files of a ``cron.d`` directory have a user column; any other
file is a user crontab unless told otherwise. In ``cron.d`` cron reads only files whose
names are made of letters, digits, ``_`` and ``-``: ``php.dpkg-old``, ``backup~`` and
``.placeholder`` are skipped, here as by cron. A user crontab of cron's spool
(``/var/spool/cron/crontabs/alice``) runs as the user it is named for, as with cron.
A file given to ``run`` or ``validate``
is a crontab when its content says so (see :func:`looks_like_crontab`).
"""

from __future__ import annotations

import os
import pwd
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from schedctl.crontab.lines import Crontab
from schedctl.crontab.parse import MAX_BYTES, parser_for
from schedctl.errors import SchedctlError
from schedctl.jobfile.loader import open_for_reading
from schedctl.trust import UntrustedFileError, open_trusted

STDIN = "-"
_CRON_D_NAME = re.compile(r"[A-Za-z0-9_-]+")
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")
_TIME_TOKEN = re.compile(r"[0-9*][0-9A-Za-z*,/#-]*|[A-Za-z]{3}[0-9A-Za-z,/#-]*")
_MACRO = re.compile(r"@[A-Za-z]+[ \t]")
_ASSIGNMENT = re.compile(r"""[ \t]*("[^"]*"|'[^']*'|[A-Za-z_][A-Za-z0-9_]*)[ \t]*=""")
#: What only a YAML document has: ``key:``, a document marker, a directive, a list item.
_YAML_LINE = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:([ \t]|$)|---|\.\.\.|%YAML|%TAG|- ")


class CrontabReadError(SchedctlError):
    """A crontab file cannot be read at all."""

    exit_code = 2


@dataclass(frozen=True)
class Source:
    """A crontab file's name as given (``-`` for stdin), and its text."""

    name: str
    text: str


def is_system_path(path: str) -> bool:
    """``/etc/crontab`` and the files of a ``cron.d`` directory name a user on each line."""
    resolved = Path(path).absolute()
    return resolved.parent.name == "cron.d" or (
        resolved.name == "crontab" and resolved.parent.name == "etc"
    )


def spool_owner(path: str) -> str | None:
    """The user a crontab of cron's spool belongs to: cron runs the lines of
    ``/var/spool/cron/crontabs/alice`` (Debian) or ``/var/spool/cron/alice`` (cronie) as alice.
    Names with dots are users too (``john.doe``); ``crontab -e``'s ``tmp.*`` files are not."""
    resolved = Path(path).absolute()
    name = resolved.name
    if not _in_spool(resolved) or not _USER_NAME.fullmatch(name) or name.startswith("tmp."):
        return None
    return name


def _in_spool(path: Path) -> bool:
    parent = path.parent
    debian = parent.name == "crontabs" and parent.parent.name == "cron"
    cronie = parent.name == "cron" and parent.parent.name == "spool"
    return debian or cronie


def cron_reads(name: str) -> bool:
    """Whether cron reads a file of this name in ``cron.d`` (no dots, no ``~``, not hidden)."""
    return _CRON_D_NAME.fullmatch(name) is not None


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """The files to read, and notes on those skipped: a directory stands for the files in it
    that cron reads (in its spool, every user's; elsewhere, as in ``cron.d``), and a file
    of a ``cron.d`` directory is read only if cron would."""
    files: list[str] = []
    notes: list[str] = []
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if not os.path.isfile(full):
                    continue
                if _in_spool(Path(full).absolute()):
                    if spool_owner(full) is not None:
                        files.append(full)
                    else:
                        notes.append(f"{full}: skipped: cron's spool holds one crontab per "
                                     "user, named for the user, and this is none")
                elif cron_reads(name):
                    files.append(full)
                else:
                    notes.append(_skip_note(full))
        elif path != STDIN and Path(path).parent.name == "cron.d" and not cron_reads(Path(path).name):
            notes.append(_skip_note(path))
        else:
            files.append(path)
    return files, notes


def read_trusted(paths: list[str]) -> tuple[list[Source], list[str]]:
    """The crontabs of ``paths`` that pass the trust rule, and a note on each one skipped:
    cron never runs a crontab that another user could change (``WRONG FILE OWNER``,
    ``BAD FILE MODE``), and converting it would start running it. stdin is read as is."""
    sources: list[Source] = []
    notes: list[str] = []
    for path in paths:
        try:
            sources.append(read_source(path, check_trust=path != STDIN))
        except UntrustedFileError as exc:
            notes.append(f"{path}: skipped, as cron skips it: not trusted: {exc.problem}")
    return sources, notes


def _spool_uid(path: str) -> int | None:
    """The uid of the user a spool crontab is named for, who may own it."""
    owner = spool_owner(path)
    try:
        return pwd.getpwnam(owner).pw_uid if owner is not None else None
    except KeyError:
        return None


def _skip_note(path: str) -> str:
    return (f"{path}: skipped, as cron skips it: in cron.d only names made of letters, "
            "digits, _ and - are read (no dots, no ~)")


def read_source(path: str, *, check_trust: bool = False) -> Source:
    """The text of ``path`` (``-``: stdin), refused over 1 MiB or when it is not UTF-8;
    with ``check_trust``, only as a file that passes the trust rule as it is read (a
    crontab of cron's spool may belong to the user it is named for, as cron wants it)."""
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            fd = (open_trusted(path, uid=_spool_uid(path)) if check_trust
                  else open_for_reading(path, check_trust=False))
            with os.fdopen(fd, "rb") as stream:
                data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CrontabReadError(f"{path}: cannot read the crontab: {exc.strerror or exc}") from None
    name = "<stdin>" if path == STDIN else path
    if len(data) > MAX_BYTES:
        raise CrontabReadError(f"{name}: the crontab is over 1 MiB; the limit is 1 MiB")
    try:
        return Source(name, data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CrontabReadError(
            f"{name}:{line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the crontab as UTF-8"
        ) from None


def parse_source(source: Source, system: bool | None = None) -> Crontab:
    """The crontab in ``source``; ``system`` None decides the format by the path. A user
    crontab of cron's spool gets its owner from its name, as cron gives it."""
    named = source.name != "<stdin>"
    if system is None:
        system = named and is_system_path(source.name)
    crontab = parser_for(system).parse(source.text, source.name)
    if named and not system:
        crontab.owner = spool_owner(source.name)
    return crontab


def looks_like_crontab(text: str) -> bool:
    """True for crontab text, False for a YAML jobfile.

    No line of a crontab looks like YAML's ``key:``, and at least one is a job or an
    environment line; a jobfile always has a ``jobs:`` line. A file of comments alone is
    a crontab with every job commented out when a comment is a job line
    (``# 0 2 * * * backup``): so commenting out a crontab's last line stops its job.
    """
    found = active = commented_job = False
    for row in text.split("\n"):
        line = row.strip(" \t\r")
        if line.startswith("#"):
            commented_job = commented_job or _is_job(line[1:].strip(" \t"))
            continue
        if not line:
            continue
        if _YAML_LINE.match(line):
            return False
        active = True
        found = found or _is_job_or_assignment(line)
    return found or (commented_job and not active)


def _is_job_or_assignment(line: str) -> bool:
    return _is_job(line) or _ASSIGNMENT.match(line) is not None


def _is_job(line: str) -> bool:
    if _MACRO.match(line + " "):
        return True
    tokens = line.split(None, 5)
    return len(tokens) == 6 and all(_TIME_TOKEN.fullmatch(token) for token in tokens[:5])
