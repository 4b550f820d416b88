"""One small check per jobfile key: a marked YAML node in, a normalized value out.

Each check raises :class:`Bad` with a message that says what is wrong and how to
fix it; the caller adds the file, line, column and key path. Checks see one key
only; rules that involve several keys (one trigger, known executor) live in
:mod:`schedctl._jobcheck`.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cache
from typing import Any

from schedctl._yamlmarks import Field, Node, describe, to_plain
from schedctl.durations import parse_duration


class Bad(Exception):
    """A value is wrong. ``at``/``suffix`` point inside it (``env.PATH``), else at the value."""

    def __init__(self, message: str, at: Node | Field | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.suffix = suffix


Check = Callable[[Node], Any]

ACTION_KEYS = ("command", "call")
TRIGGER_KEYS = ("cron", "interval", "date")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_UNIT_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
INTERVAL_UNITS = tuple(_UNIT_SECONDS)
#: Longer durations are typos, and would overflow ``timedelta`` when a trigger adds them.
MAX_DURATION = 100 * 365 * 86_400
EXECUTOR_TYPES = ("threadpool", "processpool")
_LOOKS_LIKE_DATE = re.compile(r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d)?)?$")
_JOB_ID = re.compile(r"[A-Za-z0-9_.@:-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'interval'?`` or, with nothing close, the list to pick from."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" (expected one of: {', '.join(options)})" if len(options) <= 25 else ""


def unknown_key(key: str, choices: Iterable[str]) -> str:
    return f"unknown key {key!r}{did_you_mean(key, choices)}"


def check_job_id(job_id: str) -> None:
    if not job_id:
        raise Bad("a job id must not be empty")
    if not _JOB_ID.fullmatch(job_id):
        raise Bad(
            f"job id {job_id!r} may contain only letters, digits and _ . @ : - "
            "(it names the job on the command line and in the state store)"
        )


def as_text(node: Node) -> str | None:
    """A string value, or the source text of an unquoted scalar (``no``, ``080``, ``true``)."""
    if isinstance(node.value, str):
        return node.value
    if node.text is not None and node.value is not None and not isinstance(node.value, bytes):
        return node.text
    return None


def text(node: Node, what: str = "text") -> str:
    result = as_text(node)
    if result is None:
        raise Bad(f"expected {what}, got {describe(node.value)}")
    return result


def nonempty_text(node: Node, what: str = "text") -> str:
    result = text(node, what)
    if not result.strip():
        raise Bad(f"expected {what}, got an empty string")
    return result


def optional(check: Check) -> Check:
    """``check``, except that null means "not set" (None)."""

    def nullable(node: Node) -> Any:
        return None if node.value is None else check(node)

    nullable.__doc__ = check.__doc__
    return nullable


def mapping(node: Node, what: str = "a mapping") -> dict[str, Any]:
    if not node.is_mapping:
        raise Bad(f"expected {what}, got {describe(node.value)}")
    return dict(node.value)


def check_bool(node: Node) -> bool:
    if isinstance(node.value, bool):
        return node.value
    hint = " (remove the quotes)" if str(node.value).lower() in ("true", "false") else ""
    raise Bad(f"expected true or false, got {describe(node.value)}{hint}")


def check_positive_int(node: Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Bad(f"expected a whole number of 1 or more, got {describe(value)}")
    return value


def check_duration(node: Node) -> float:
    try:
        seconds = parse_duration(node.value)
    except (TypeError, ValueError) as exc:
        raise Bad(str(exc)) from None
    return _within_limit(seconds, describe(node.value))


def _within_limit(seconds: float, shown: str) -> float:
    if seconds > MAX_DURATION:
        raise Bad(f"{shown} is longer than 100 years; check the number and its unit")
    return seconds


def check_positive_duration(node: Node) -> float:
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0")
    return seconds


def check_grace_time(node: Node) -> float | None:
    """Seconds a late run may still start; null or 'none' lifts the limit."""
    if node.value is None or (isinstance(node.value, str) and node.value.lower() == "none"):
        return None
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0 (use none for no limit)")
    return seconds


def check_timezone(node: Node) -> str:
    name = nonempty_text(node, "a time zone name such as Europe/Berlin")
    if not _zone_exists(name):
        raise Bad(f"unknown timezone {name!r}{_zone_hint(name)}")
    return name


def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone_hint(name: str) -> str:
    if name.lower() == "local":
        return " (leave timezone out to use the machine's zone)"
    zones = _all_zones()
    for zone in zones:
        if zone.lower() == name.lower():
            return f" — did you mean {zone!r}?"
    close = difflib.get_close_matches(name, zones, n=1, cutoff=0.75)
    return f" — did you mean {close[0]!r}?" if close else ""


@cache
def _all_zones() -> list[str]:
    """Every zone name; read from disk only when a name is wrong, since that is slow."""
    return sorted(zoneinfo.available_timezones())


def check_datetime(node: Node) -> datetime:
    """A YAML timestamp, a date (midnight) or an ISO text such as 2026-12-01T09:00."""
    value = node.value
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raw = text(node, "a date such as 2026-12-01T09:00")
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        if _LOOKS_LIKE_DATE.match(raw.strip()):  # then the reason (day 30 of February) helps
            raise Bad(f"{raw!r} is not a valid date/time: {exc}") from None
        raise Bad(
            f"{raw!r} is not a date/time (write it as 2026-12-01T09:00 or 2026-12-01 09:00:00+01:00)"
        ) from None


def check_executor_name(node: Node) -> str:
    return nonempty_text(node, "an executor name").strip()


def check_directory(node: Node) -> str:
    """A working directory, kept as written (relative ones are the runner's to resolve)."""
    return nonempty_text(node, "a directory")


def check_command(node: Node) -> str | tuple[str, ...]:
    """A shell line (run by /bin/sh -c) or an argv list (run without a shell)."""
    if node.is_list:
        if not node.value:
            raise Bad("the command list is empty; give the program and its arguments")
        argv = tuple(_argv_item(item, index) for index, item in enumerate(node.value))
        if not argv[0].strip():
            raise Bad("the program name is empty", node.value[0], "[0]")
        return argv
    return nonempty_text(node, "a command line or a list of arguments")


def _argv_item(item: Node, index: int) -> str:
    result = as_text(item)
    if result is None:
        raise Bad(f"expected text, got {describe(item.value)}", item, f"[{index}]")
    return result


def check_call(node: Node) -> str:
    ref = nonempty_text(node, "'module:function'").strip()
    if not _CALL_REF.fullmatch(ref):
        raise Bad(f"{ref!r} is not a function reference; write it as 'package.module:function'")
    return ref


def check_args(node: Node) -> tuple[Any, ...]:
    if node.value is None:
        return ()
    if not node.is_list:
        raise Bad(f"expected a list of arguments, got {describe(node.value)}")
    return tuple(to_plain(item) for item in node.value)


def check_kwargs(node: Node) -> dict[str, Any]:
    if node.value is None:
        return {}
    fields = mapping(node, "a mapping of keyword arguments")
    for key, field in fields.items():
        if not key.isidentifier():
            raise Bad(f"{key!r} is not a Python argument name", field, f".{key}")
    return {key: to_plain(field.node) for key, field in fields.items()}


def check_env(node: Node) -> dict[str, str]:
    """Variable names to values; numbers and booleans are kept as written (``080``, ``yes``)."""
    if node.value is None:
        return {}
    env: dict[str, str] = {}
    for name, field in mapping(node, "a mapping of variable names to values").items():
        if not _ENV_NAME.fullmatch(name):
            raise Bad(
                f"{name!r} is not a variable name (letters, digits and _, not starting with a digit)",
                field,
                f".{name}",
            )
        value = as_text(field.node)
        if value is None:
            got = describe(field.node.value)
            hint = " (write '' for an empty value)" if field.node.value is None else ""
            raise Bad(f"expected a text value, got {got}{hint}", field, f".{name}")
        env[name] = value
    return env


def check_cron(node: Node) -> str | dict[str, str]:
    """A crontab line (5 fields, 6 with seconds first, or @daily) or a mapping of fields."""
    if not node.is_mapping:
        return nonempty_text(node, "a crontab line such as '30 2 * * *' or a mapping of fields")
    fields = node.value
    if not fields:
        raise Bad(f"the cron mapping is empty; give some of: {', '.join(CRON_FIELDS)}")
    result: dict[str, str] = {}  # 2 becomes '2': the trigger reads text, and hashes stay stable
    for key, field in fields.items():
        if key not in CRON_FIELDS:
            if key in JOB_KEYS:
                message = f"{key!r} is not a cron field but a job key: move it out of cron"
            else:
                message = unknown_key(key, CRON_FIELDS)
            raise Bad(message, field, f".{key}")
        result[key] = _cron_field_text(field.node, key)
    return result


def _cron_field_text(node: Node, key: str) -> str:
    result = as_text(node)  # as written: YAML 1.1 would read minute 010 as octal 8
    if result is None or not result.strip():
        raise Bad(
            f"expected a number or a cron expression, got {describe(node.value)}", node, f".{key}"
        )
    return result


def check_interval(node: Node) -> float:
    """Seconds between runs, from ``5m`` or ``{hours: 1, minutes: 30}``."""
    seconds = _interval_mapping(node) if node.is_mapping else check_duration(node)
    if seconds <= 0:
        raise Bad("interval must be longer than 0")
    return seconds


def _interval_mapping(node: Node) -> float:
    total = 0.0
    for key, field in node.value.items():
        if key not in INTERVAL_UNITS:
            raise Bad(unknown_key(key, INTERVAL_UNITS), field, f".{key}")
        amount = field.node.value
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0:
            raise Bad(
                f"expected a number of 0 or more, got {describe(amount)}", field.node, f".{key}"
            )
        total += check_duration(field.node) * _UNIT_SECONDS[key]
    return _within_limit(total, "the interval")


def check_executor_type(node: Node) -> str:
    name = nonempty_text(node, "an executor type").strip()
    if name not in EXECUTOR_TYPES:
        raise Bad(f"unknown executor type {name!r}{did_you_mean(name, EXECUTOR_TYPES)}")
    return name


#: The keys of an entry under ``executors``; defaults live in ExecutorSpec.
EXECUTOR_KEYS: dict[str, Check] = {"type": check_executor_type, "max_workers": check_positive_int}

#: Every key a job (and ``defaults``) may have, with its check. Defaults live in JobSpec.
JOB_KEYS: dict[str, Check] = {
    "description": optional(text),
    "command": check_command,
    "call": check_call,
    "args": check_args,
    "kwargs": check_kwargs,
    "cron": check_cron,
    "interval": check_interval,
    "date": check_datetime,
    "timezone": optional(check_timezone),
    "start_date": optional(check_datetime),
    "end_date": optional(check_datetime),
    "jitter": optional(check_duration),
    "executor": check_executor_name,
    "misfire_grace_time": check_grace_time,
    "coalesce": check_bool,
    "max_instances": check_positive_int,
    "paused": check_bool,
    "env": check_env,
    "cwd": optional(check_directory),
    "timeout": optional(check_positive_duration),
}
