"""The checks of the keys that say when a job runs: cron, interval, date, timezone,
and how late a run may still start."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import fields
from datetime import date, datetime
from functools import cache

from schedctl.jobfile.cronhints import pasted_line_hint
from schedctl.jobfile.specs import JobSpec
from schedctl.jobfile.values import (
    Bad,
    as_text,
    check_duration,
    nonempty_text,
    text,
    unknown_key,
    vetted_text,
    within_limit,
)
from schedctl.jobfile.yamlmarks import Node, describe

TRIGGER_KEYS = ("cron", "interval", "date")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_UNIT_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
INTERVAL_UNITS = tuple(_UNIT_SECONDS)
_LOOKS_LIKE_DATE = re.compile(r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d)?)?$")
#: Every key a job may have: its options (JobSpec's fields) and its trigger.
JOB_KEY_NAMES = frozenset(
    {spec_field.name for spec_field in fields(JobSpec)} - {"id", "line", "trigger"}
).union(TRIGGER_KEYS)


def check_grace_time(node: Node) -> float | None:
    """Seconds a late run may still start; null or 'none' lifts the limit."""
    if node.value is None or (isinstance(node.value, str) and node.value.lower() == "none"):
        return None
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0 (use none for no limit)")
    return seconds


def check_timezone(node: Node) -> str:
    return vetted_text(node, "a time zone name such as Europe/Berlin", timezone_problem)


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone, with a likely fix; None when it is one. Shared with
    the CLI's ``--timezone``, so a misspelt zone reads the same everywhere."""
    return None if _zone_exists(name) else f"unknown timezone {name!r}{_zone_hint(name)}"


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


def check_cron(node: Node) -> str | dict[str, str]:
    """A crontab line (5 fields, 6 with seconds first, or @daily) or a mapping of fields."""
    if not node.is_mapping:
        expression = nonempty_text(node, "a crontab line such as '30 2 * * *' or a mapping of fields")
        hint = pasted_line_hint(expression, user_key="user" in JOB_KEY_NAMES)
        if hint:
            raise Bad(hint)
        return expression
    fields = node.value
    if not fields:
        raise Bad(f"the cron mapping is empty; give some of: {', '.join(CRON_FIELDS)}")
    result: dict[str, str] = {}  # 2 becomes '2': the trigger reads text, and hashes stay stable
    for key, field in fields.items():
        if key not in CRON_FIELDS:
            if key in JOB_KEY_NAMES:
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
    return within_limit(total, "the interval")
