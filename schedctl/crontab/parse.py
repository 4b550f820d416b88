"""Reading crontab files line by line, as Debian's cron does.

A line is blank, a comment (first non-blank character ``#``; a ``#`` later in a
command is part of the command), an environment setting (``NAME=value``, blanks
allowed around ``=``, the value's matching quotes removed), or a job: five time
fields or a macro, the user column in the system format, then the command. The
first unescaped ``%`` ends the command; the rest is the command's stdin, with
each further ``%`` a newline; ``\\%`` is a literal ``%`` in either part.

:class:`CrontabParser` reads user crontabs (``crontab -e``); :class:`SystemCrontabParser`
reads ``/etc/crontab`` and ``/etc/cron.d/*``, which name the user before the command.
Checking the time fields is the trigger's job (see :mod:`schedctl.crontab.convert`).
"""

from __future__ import annotations

import re

from schedctl.crontab.lines import Assignment, BadLine, Blank, Comment, Crontab, Entry, Line

#: Larger files are refused unread, as jobfiles are: a crontab of 1,000 lines is about 100 KiB.
MAX_BYTES = 1024 * 1024

_BLANKS = " \t"
_TOKEN = re.compile(r"[ \t]*([^ \t]+)")
#: cron's ``load_env``: a name (quoted, or up to a blank or '='), '=', then the value.
_ASSIGNMENT = re.compile(r"""[ \t]*(?P<name>"[^"]*"|'[^']*'|[^ \t="']+)[ \t]*=[ \t]*(?P<value>.*)$""")
_QUOTES = "\"'"
TIME_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


class CrontabParser:
    """The user format: ``m h dom mon dow command``."""

    system = False

    def parse(self, text: str, filename: str) -> Crontab:
        """Every line of ``text`` classified; a line cron would refuse becomes a BadLine."""
        rows = text.split("\n")
        if rows and rows[-1] == "":
            rows.pop()  # the final line break ends the last line; it starts no new one
        crontab = Crontab(filename, self.system)
        for number, row in enumerate(rows, 1):
            crontab.lines.append(self.line(filename, number, row.removesuffix("\r")))
        return crontab

    def line(self, filename: str, number: int, text: str) -> Line:
        stripped = text.strip(_BLANKS)
        if not stripped:
            return Blank(filename, number, text)
        if stripped.startswith("#"):
            return Comment(filename, number, text, body=stripped[1:])
        assignment = parse_assignment(text)
        if isinstance(assignment, tuple):
            return Assignment(filename, number, text, name=assignment[0], value=assignment[1])
        if assignment is not None:
            return BadLine(filename, number, text, reason=assignment)
        return self._entry(filename, number, text)

    def _entry(self, filename: str, number: int, text: str) -> Line:
        def bad(reason: str, position: int) -> BadLine:
            return BadLine(filename, number, text, reason=reason, column=position + 1)

        first = _TOKEN.match(text)
        assert first is not None  # the line is not blank
        if first.group(1).startswith("@"):
            schedule, position = first.group(1), first.end()
        else:
            fields, position = [], 0
            for name in TIME_FIELDS:
                token = _TOKEN.match(text, position)
                if token is None:
                    return bad(f"no {name} field: a job line needs 5 time fields "
                               "(minute hour day-of-month month day-of-week) and a command",
                               len(text))
                fields.append(token.group(1))
                position = token.end()
            schedule = " ".join(fields)
        user, position = self.user_column(text, position)
        if user == "":
            return bad("no user column: in /etc/crontab and /etc/cron.d the user comes "
                       "after the time fields, before the command", len(text))
        rest = text[position:].lstrip(_BLANKS)
        if not rest:
            return bad("no command after the time fields", len(text))
        command, stdin = split_percent(rest)
        if not command.strip(_BLANKS):
            return bad("the command is empty: the line's first '%' comes before any command "
                       "(write \\% for a literal %)", len(text) - len(rest))
        return Entry(filename, number, text, schedule=schedule, command=command, stdin=stdin,
                     user=user)

    def user_column(self, text: str, position: int) -> tuple[str | None, int]:
        """The user named at ``position`` and where the command starts; the user format has none."""
        return None, position


class SystemCrontabParser(CrontabParser):
    """The system format of ``/etc/crontab`` and ``/etc/cron.d``: ``m h dom mon dow user command``."""

    system = True

    def user_column(self, text: str, position: int) -> tuple[str | None, int]:
        token = _TOKEN.match(text, position)
        if token is None:
            return "", position
        return token.group(1), token.end()


def parser_for(system: bool) -> CrontabParser:
    return SystemCrontabParser() if system else CrontabParser()


def parse_assignment(text: str) -> tuple[str, str] | str | None:
    """``(name, value)`` for an environment line, None for another kind of line, or the
    reason an environment line is malformed (its quotes do not match)."""
    match = _ASSIGNMENT.match(text)
    if match is None:
        return None
    name, value = match.group("name"), match.group("value").rstrip(_BLANKS)
    if name[0] in _QUOTES:
        name = name[1:-1]
    if value and value[0] in _QUOTES:
        if len(value) < 2 or value[-1] != value[0]:
            return (f"the value of {name} opens a {value[0]} quote that does not end the line; "
                    f"close it, or remove it")
        value = value[1:-1]
    return name, value


def split_percent(raw: str) -> tuple[str, str | None]:
    """cron's ``%`` rule: ``(command, stdin)``, stdin None when the line has no unescaped ``%``.

    In the command, ``\\%`` becomes ``%`` and other backslashes stay. In the stdin part,
    ``%`` becomes a newline, ``\\%`` a ``%``, and other backslashes stay, as in cron.
    """
    command: list[str] = []
    escaped = False
    for index, char in enumerate(raw):
        if escaped:  # the character after a backslash is taken as it is
            escaped = False
            if char == "%":
                command[-1] = "%"  # the backslash goes, the percent stays
            else:
                command.append(char)
            continue
        if char == "%":
            return "".join(command), _stdin(raw[index + 1 :])
        command.append(char)
        escaped = char == "\\"
    return "".join(command), None


def _stdin(raw: str) -> str:
    data: list[str] = []
    escaped = False
    for char in raw:
        if escaped:
            escaped = False
            if char != "%":
                data.append("\\")
        elif char == "%":
            char = "\n"
        if char == "\\" and not escaped:
            escaped = True
            continue
        data.append(char)
    if escaped:
        data.append("\\")  # an escape at the very end stands for itself
    return "".join(data)
