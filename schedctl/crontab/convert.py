"""Crontab lines -> jobs with jobfile keys, environment lines applied by position.

cron applies a ``NAME=value`` line to the job lines below it, so each job here gets
the settings in force at its line: ``SHELL`` its ``shell``, ``CRON_TZ`` its ``timezone``,
``HOME`` its ``cwd`` (cron runs the command there) and ``env.HOME``, cronie's
``RANDOM_DELAY`` (minutes) its ``jitter``, and every other variable its ``env``
(``TZ`` too: it is the command's zone, not the schedule's). ``MAILTO`` and ``MAILFROM``
become its ``on_output`` (see :mod:`schedctl.crontab.mail`). A setting every job shares
goes to ``defaults`` (see :func:`shared_defaults`).

A line that cannot become a job (a field cron refuses, a schedule that never fires,
an unknown zone) is a :class:`Skipped` item with its reason; the writer keeps it as a
comment, and the caller reports it as ``file:line:column: reason``.
"""

from __future__ import annotations

import pwd
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schedctl.crontab import mail
from schedctl.crontab.lines import Assignment, BadLine, Comment, Crontab, Entry, Line
from schedctl.crontab.names import program_name, unique_ids
from schedctl.crontab.parse import CrontabParser
from schedctl.jobfile.commandkeys import check_shell
from schedctl.jobfile.keys import JOB_KEYS
from schedctl.jobfile.triggerkeys import check_timezone
from schedctl.jobfile.values import Bad
from schedctl.jobfile.yamlmarks import Node, Problem

REBOOT = "@reboot"
#: Settings kept while walking the file, turned into ``on_output`` for each job.
_MAIL_TO, _MAIL_FROM = "mail.to", "mail.from"
#: cron sets these to the job's user whatever the crontab says; so does the ``user`` key.
_SET_BY_CRON = ("LOGNAME", "USER")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MINUTES = re.compile(r"[0-9]+")
#: A word that can only be a time field: ``*``, ``*/5``, ``?``, ``0``, ``1-5``, ``0,30``.
_TIME_FIELD = re.compile(r"(\*|\?|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,[0-9]+(-[0-9]+)?(/[0-9]+)?)*")
#: Keys a job at ``@reboot`` refuses (it has no schedule to shift).
_NOT_FOR_REBOOT = ("jitter",)
#: Shell builtins that a user crontab's command may start with, though no user-named file exists.
_BUILTINS = {"cd", "test", "[", "exec", "export", "true", "false", "echo", "printf", "command"}


@dataclass(frozen=True)
class Setting:
    """A job key's value and the environment line that set it."""

    value: Any
    source: Assignment

    def same_value(self, other: Setting | None) -> bool:
        """Whether ``other`` sets the same value, wherever it was written."""
        return other is not None and other.value == self.value


@dataclass
class Job:
    """A crontab line that became a job. ``settings`` holds ``shell``, ``cwd``, ``timezone``,
    ``jitter``, ``user`` and ``env.NAME`` keys; ``notes`` what can only be a comment."""

    id: str
    entry: Entry
    cron: str
    description: str | None = None
    settings: dict[str, Setting] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A line kept as a comment, and why it could not be converted."""

    line: Line
    reason: str
    column: int = 1

    @property
    def problem(self) -> Problem:
        return Problem(self.line.filename, self.line.number, self.column, "", self.reason)


@dataclass(frozen=True)
class Note:
    """An environment line, shown as a comment where it was; ``remark`` says what became of it."""

    line: Assignment
    remark: str = ""


Item = Line | Job | Skipped | Note


@dataclass
class Conversion:
    """Everything the writer needs, in file order: one list of items per crontab."""

    files: list[tuple[Crontab, list[Item]]] = field(default_factory=list)

    @property
    def jobs(self) -> list[Job]:
        return [item for _, items in self.files for item in items if isinstance(item, Job)]

    @property
    def problems(self) -> list[Problem]:
        return [item.problem for _, items in self.files for item in items
                if isinstance(item, Skipped)]


def convert(crontabs: Iterable[Crontab]) -> Conversion:
    """The jobs of ``crontabs``, ids unique across all of them."""
    conversion = Conversion()
    for crontab in crontabs:
        conversion.files.append((crontab, _FileConverter(crontab).items()))
    jobs = conversion.jobs
    for job, unique in zip(jobs, unique_ids([job.id for job in jobs]), strict=True):
        job.id = unique
    return conversion


def shared_defaults(jobs: list[Job]) -> dict[str, Setting]:
    """The settings every job has, with the same value: the jobfile's ``defaults``.

    A key that does not apply to some jobs (``jitter`` at ``@reboot``) is judged on the others.
    """
    shared: dict[str, Setting] = {}
    keys = dict.fromkeys(key for job in jobs for key in job.settings)
    for key in keys:
        concerned = [job for job in jobs if not (job.cron == REBOOT and key in _NOT_FOR_REBOOT)]
        first = concerned[0].settings.get(key) if concerned else None
        if first is not None and all(first.same_value(job.settings.get(key)) for job in concerned):
            shared[key] = first
    return shared


class _FileConverter:
    """Walks one crontab's lines, keeping the settings in force."""

    def __init__(self, crontab: Crontab) -> None:
        self.crontab = crontab
        self.settings: dict[str, Setting] = {}
        self.result: list[Item] = []

    def items(self) -> list[Item]:
        for line in self.crontab.lines:
            if isinstance(line, Assignment):
                self.result.append(self._assign(line))
            elif isinstance(line, Entry):
                self.result.append(self._job(line))
            elif isinstance(line, BadLine):
                self.result.append(Skipped(line, line.reason, line.column))
            else:
                self.result.append(line)
        return self.result

    # -- environment lines ------------------------------------------------------------------------

    def _assign(self, line: Assignment) -> Note | Skipped:
        name, value = line.name, line.value
        try:
            if name == "MAILTO":
                self._set(_MAIL_TO, mail.recipients(value, line.number), line)
                return Note(line)
            if name == "MAILFROM":
                self._set(_MAIL_FROM, mail.sender(value, line.number), line)
                return Note(line)
            if name in _SET_BY_CRON:
                return Note(line, "not converted: cron sets it to the job's user")
            if not _ENV_NAME.fullmatch(name):
                raise Bad(f"{name!r} cannot be an environment variable's name in a jobfile "
                          "(letters, digits and _, not starting with a digit)")
            if "\0" in value:
                raise Bad(f"the value of {name} holds a NUL character")
            self._apply(line, name, value)
        except Bad as bad:
            return Skipped(line, bad.message, 1)  # run refuses the file; import keeps it as a comment
        return Note(line)

    def _apply(self, line: Assignment, name: str, value: str) -> None:
        if name == "SHELL":
            self._set("shell", check_shell(_node(value, line)), line)
        elif name == "CRON_TZ":
            self._set("timezone", check_timezone(_node(value, line)) if value else None, line)
            return
        elif name == "RANDOM_DELAY":
            if value and not _MINUTES.fullmatch(value):
                raise Bad(f"RANDOM_DELAY must be a whole number of minutes, got {value!r}")
            self._set("jitter", f"{int(value)}m" if value and int(value) else None, line)
            return
        elif name == "HOME":
            self._set("cwd", value or None, line)
        self._set(f"env.{name}", value, line)

    def _set(self, key: str, value: Any, line: Assignment) -> None:
        if value is None:
            self.settings.pop(key, None)
        else:
            self.settings[key] = Setting(value, line)

    # -- job lines --------------------------------------------------------------------------------

    def _job(self, entry: Entry) -> Job | Skipped:
        problem = self._entry_problem(entry)
        if problem is not None:
            return Skipped(entry, *problem)
        cron = REBOOT if entry.schedule.lower() == REBOOT else entry.schedule
        settings = {key: setting for key, setting in self.settings.items()
                    if not (cron == REBOOT and key in _NOT_FOR_REBOOT)
                    and key not in (_MAIL_TO, _MAIL_FROM)}
        to = self.settings.get(_MAIL_TO)
        if to is not None:
            sender = self.settings.get(_MAIL_FROM)
            value = mail.on_output(to.value, sender.value if sender else None)
            settings["on_output"] = Setting(value, to.source)
        job = Job(program_name(entry.command), entry, cron, self._description(), settings)
        user = self._user(entry)
        if user is not None:
            job.settings["user"] = Setting(user, _column_source(entry, user))
        return job

    def _user(self, entry: Entry) -> str | None:
        """The user column, or the owner of a spool crontab: whom cron runs the line as."""
        return entry.user if entry.user is not None else self.crontab.owner

    def _entry_problem(self, entry: Entry) -> tuple[str, int] | None:
        if "\0" in entry.command or "\0" in (entry.stdin or ""):
            return "the command holds a NUL character", 1
        if not entry.command.strip():
            return "the command holds only blanks and control characters", 1
        if entry.schedule.lower() != REBOOT:
            reason = _schedule_problem(entry.schedule, self.settings.get("timezone"))
            if reason:
                return reason, entry.text.find(entry.schedule.split()[0]) + 1
        user = self._user(entry)
        if user is not None:
            try:
                JOB_KEYS["user"](Node(user, entry.number, 1, user))
            except Bad as bad:  # cron skips such a line too ("ORPHAN (no passwd entry)")
                if entry.user is None:
                    return bad.message, 1
                return self._user_problem(entry.user, bad), entry.text.find(entry.user) + 1
        field = _time_field_in_command(entry)
        if field is not None:
            return field
        if not self.crontab.system:
            user = _leading_user(entry.command, self.settings.get("env.PATH"))
            if user:
                message = (f"{user!r} looks like the user column of /etc/crontab or /etc/cron.d, "
                           f"but {entry.filename} is read as a user crontab: pass --system, or "
                           f"remove {user!r} from the line")
                return message, entry.text.find(user) + 1
        return None

    def _user_problem(self, user: str, bad: Bad) -> str:
        """Why the user column is refused; a program there means a user crontab read as
        a system one, which no ``useradd`` mends."""
        path = self.settings.get("env.PATH")
        if not shutil.which(user, path=path.value if path else None):
            return bad.message
        return (f"{user!r} is a program, not a user of this machine: {self.crontab.filename} "
                "is read with a user column, as /etc/crontab is; if it is a user crontab, "
                "leave out --system")

    def _description(self) -> str | None:
        """The comment lines of prose right above the job (they are not repeated), up to a
        blank line, a setting, or a comment that is not prose."""
        block: list[Comment] = []
        while self.result and isinstance(last := self.result[-1], Comment) and _is_prose(last):
            block.insert(0, last)
            self.result.pop()
        return " ".join(line.body.strip() for line in block) or None


def _node(value: str, line: Assignment) -> Node:
    return Node(value, line.number, 1, value)


def _column_source(entry: Entry, user: str) -> Assignment:
    """Where the user column (or the crontab's owner) applies, as a source for ``user``."""
    return Assignment(entry.filename, entry.number, entry.text, name="user", value=user)


def _schedule_problem(schedule: str, zone: Setting | None) -> str | None:
    from schedctl.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(schedule, timezone=zone.value if zone else None)
    except ValueError as exc:
        return str(exc)
    return None


def _is_prose(line: Comment) -> bool:
    """Words, not decoration (``#####``) and not a line commented out (``# 0 2 * * * backup``)."""
    body = line.body.strip()
    if not any(char.isalnum() for char in body):
        return False
    parsed = CrontabParser().line(line.filename, line.number, body)
    if isinstance(parsed, Assignment):
        return False
    return not (isinstance(parsed, Entry) and body[0] in "0123456789*@")


def _time_field_in_command(entry: Entry) -> tuple[str, int] | None:
    """A command that starts with a time field: a line written with supercronic's seconds
    or year fields (``*/2 * * * * * * job``), which cron would run as the command ``* * job``."""
    word = entry.command.split(None, 1)[0] if entry.command.split() else ""
    if entry.schedule.startswith("@") or not _TIME_FIELD.fullmatch(word):
        return None
    return (f"the command starts with {word!r}, a sixth time field (supercronic's seconds or "
            "year): a crontab line has five, as cron's; write this job in a jobfile instead, "
            "where cron: takes six fields with seconds first ('*/2 * * * * *'), or keyword "
            "fields with a year ({year: 2030, ...})"
            ), entry.text.find(entry.command) + 1


def _leading_user(command: str, path: Setting | None) -> str | None:
    """The command's first word when it names a user of this machine and no program, and
    the next word is a program (``root cd / && ...``, ``www-data /usr/bin/php ...``)."""
    words = command.split(None, 2)
    if len(words) < 2 or "/" in words[0] or words[0] in _BUILTINS:
        return None
    search = path.value if path else None
    try:
        pwd.getpwnam(words[0])
    except KeyError:
        return None
    if shutil.which(words[0], path=search):
        return None
    follower = words[1]
    if follower.startswith("/") or follower in _BUILTINS or shutil.which(follower, path=search):
        return words[0]
    return None
