"""What every trigger module shares: zones, bounds, jitter and the stored-state format."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from schedctl.timeutil import (
    UTC,
    astimezone,
    convert_to_datetime,
    datetime_repr,
    get_localzone,
    zone_name,
)

STATE_VERSION = 1
ONE_MICROSECOND = timedelta(microseconds=1)
_FIXED_OFFSET = re.compile(r"UTC([+-])(\d\d):(\d\d)$")


def resolve_zone(value: str | tzinfo | None, *bounds: object) -> tzinfo:
    """The trigger's zone: the one given, else that of the first aware datetime among
    ``bounds`` (start_date, then end_date, as APScheduler 3 does), else the machine's."""
    zone = astimezone(value)
    if zone is not None:
        return zone
    for bound in bounds:
        if isinstance(bound, datetime) and bound.utcoffset() is not None:
            return astimezone(bound.tzinfo) or get_localzone()
    return get_localzone()


def aware(value: str | datetime | date | None, tz: tzinfo, argname: str) -> datetime | None:
    """A datetime argument as an aware datetime in ``tz`` (naive values are read in ``tz``)."""
    if type(value) is datetime and value.tzinfo is tz and value.utcoffset() is not None:
        return value  # already so: spare the conversions
    result = convert_to_datetime(value, tz, argname)
    return None if result is None else result.astimezone(tz)


def bounds_reason(start: Any, end: Any, show: Any = datetime_repr) -> str | None:
    """Why ``start``..``end`` holds no instant (end before start), or None."""
    if start is not None and end is not None and end < start:
        return f"end_date ({show(end)}) is before start_date ({show(start)})"
    return None


def check_bounds(start: Any, end: Any, show: Any = datetime_repr) -> None:
    """Refuse an end before the start: such a trigger could never fire."""
    reason = bounds_reason(start, end, show)
    if reason is not None:
        raise ValueError(reason)


def check_jitter(jitter: float | None) -> float | None:
    if jitter is None:
        return None
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)):
        raise TypeError(f"jitter: expected a number of seconds, got {jitter!r}")
    if jitter < 0:
        raise ValueError(f"jitter: must not be negative (jitter={jitter!r})")
    return jitter


def utc_instant(value: datetime, argname: str) -> datetime:
    """An argument of get_next_fire_time in UTC; naive datetimes are refused as ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{argname}: expected a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def zone_to_state(tz: tzinfo) -> str:
    return zone_name(tz)


def zone_from_state(name: str) -> tzinfo:
    """Inverse of ``zone_to_state``, which names fixed offsets like ``UTC+02:00``. Kept per
    name (a store holds few zones, and every loaded trigger names one)."""
    zone = _STORED_ZONES.get(name) if type(name) is str else None
    if zone is None:
        zone = _zone_from_name(name)
        if type(name) is str and len(_STORED_ZONES) < 4096:
            _STORED_ZONES[name] = zone
    return zone


_STORED_ZONES: dict[str, tzinfo] = {}


def _zone_from_name(name: str) -> tzinfo:
    match = _FIXED_OFFSET.match(name)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        return timezone(sign * offset)
    return resolve_zone(name)


def datetime_to_state(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def check_version(state: dict[str, Any], cls: type) -> None:
    version = state.get("version")
    if version != STATE_VERSION:
        raise ValueError(
            f"{cls.__name__}: cannot read stored state version {version!r} "
            f"(this schedctl reads version {STATE_VERSION})"
        )


def plural(count: float, unit: str) -> str:
    """``1 minute``, ``5 minutes``, ``1.5 seconds``."""
    shown = int(count) if float(count).is_integer() else count
    return f"{shown} {unit}" if shown == 1 else f"{shown} {unit}s"


def join_words(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# -- JSON text of stored state -----------------------------------------------------------------

#: A string as JSON text, ASCII only: surrogate-escaped text (undecodable file names in
#: args) stays storable and lossless.
json_text = json.encoder.encode_basestring_ascii

#: The encoder of stored state: compact, ASCII, no NaN or infinity.
STATE_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_json(value: Any) -> str:
    """``STATE_ENCODER.encode(value)``, minus the C encoder it builds anew on every call (a
    quarter of encoding a job): this one is built once, with the same options. A cycle
    ends in RecursionError, not ValueError (the C encoder keeps no markers here)."""
    if _C_ENCODE is None:  # an interpreter without the C accelerator
        return STATE_ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
# (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys,
# allow_nan)
_C_ENCODE = None if _c_make_encoder is None else _c_make_encoder(
    None, _no_default, json_text, None, ":", ",", False, False, False
)
