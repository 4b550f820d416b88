"""Hints for crontab habits in a jobfile: each says exactly what to write instead.

Three habits trip people who come from cron: an unquoted ``*/15 * * * *`` or ``@daily``
(YAML reads ``*`` as an alias and refuses ``@``), crontab's ``\\%`` inside double quotes
(an unknown escape in YAML), and a whole ``/etc/crontab`` line pasted into ``cron:``
(its user column read as a day of the week). A leaf module: it imports only the engine.
"""

from __future__ import annotations

import pwd
import re

_KEY_BEFORE = re.compile(r"(?:^\s*|[{,]\s*|-\s+)([A-Za-z_][\w.-]*)\s*:\s*$")
_VALUE_END = re.compile(r"\s+#|,\s|\}\s*$|\]\s*$")
_USER_NAME = re.compile(r"[a-z_][a-z0-9_.-]*\$?")


def syntax_hint(problem: str | None, line: str, column: int) -> str:
    """What to write instead, for a YAML error at ``column`` (0-based) of ``line``; or ''."""
    if problem == "found unknown escape character" and "\\%" in line[max(column - 1, 0) : column + 2]:
        fixed = line.replace("\\%", "%").strip()
        return f"; in YAML a % needs no backslash (that is crontab's rule): write {fixed}"
    if problem == "found unknown escape character":
        return "; in double quotes a backslash starts an escape: write \\\\ or use single quotes"
    start = _value_start(line, column)
    if start is None:
        return ""
    value = _VALUE_END.split(line[start:], maxsplit=1)[0].strip()
    key = _KEY_BEFORE.search(line[:start])
    written = f"{key.group(1)}: " if key else ""
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (f"; YAML reads a value starting with {value[0]!r} as special, so a cron string "
            f"must be quoted: write {written}{quoted}")


def _value_start(line: str, column: int) -> int | None:
    """Where an unquoted ``*...`` or ``@...`` value begins, at or just before ``column``."""
    for start in (column, column - 1):
        if 0 <= start < len(line) and line[start] in "*@":
            before = line[:start].rstrip()
            if before.endswith((":", "-", "[", ",")) or not before:
                return start
    return None


def pasted_line_hint(expression: str, *, user_key: bool) -> str | None:
    """Why ``expression`` is a crontab line rather than a schedule, and what to write; None
    when it is not one (a valid schedule, or a mistake of another kind)."""
    from schedctl.triggers.cron import CronTrigger

    words = expression.split()
    size = 1 if words and words[0].startswith("@") else 5
    if len(words) <= size:
        return None
    for candidate in (expression, " ".join(words[:size])):
        try:
            CronTrigger.from_crontab(candidate)
        except ValueError:
            continue
        if candidate == expression:
            return None  # six fields, seconds first: a schedule after all
        break
    else:
        return None
    schedule, rest = " ".join(words[:size]), words[size:]
    if _is_user(rest[0]):
        command = " ".join(rest[1:])
        where = f" and command: {command}" if command else ""
        who = (f", with user: {rest[0]}" if user_key
               else f" (the command runs as the user running schedctl, not as {rest[0]})")
        return (f"{expression!r} is an /etc/crontab line: {rest[0]!r} is its user column. "
                f"Write cron: \"{schedule}\"{where}{who}")
    if len(rest) == 1:
        return None  # one word more: a sixth field, as likely as a command
    return (f"{expression!r} is a whole crontab line: the schedule is only its first "
            f"{size} field(s). Write cron: \"{schedule}\" and command: {' '.join(rest)}")


def _is_user(word: str) -> bool:
    if not _USER_NAME.fullmatch(word):
        return False
    try:
        pwd.getpwnam(word)
    except KeyError:
        return False
    return True
