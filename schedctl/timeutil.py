"""Time-zone and datetime conversions shared by triggers, jobs and schedulers.

Inside the engine every instant is an aware UTC datetime; local zones matter only
where a trigger does calendar arithmetic and where a person reads the output.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = UTC

_DATE_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{1,2})(?::(?P<second>\d{1,2})(?:\.(?P<microsecond>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d\d:?\d\d)?)?$"
)


def get_localzone() -> tzinfo:
    """The machine's zone as a ZoneInfo, falling back to UTC when it cannot be told."""
    try:
        import tzlocal

        zone = tzlocal.get_localzone()
    except Exception:  # tzlocal raises several types on odd systems; UTC is a safe answer
        return UTC
    key = getattr(zone, "key", None)
    if key:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC
    return zone


def astimezone(value: str | tzinfo | None, argname: str = "timezone") -> tzinfo | None:
    """Turn a zone name or tzinfo into a tzinfo; None stays None.

    A pytz zone becomes its zoneinfo twin (see :func:`zoneinfo_twin`). Raises
    ValueError naming ``argname`` for an unknown zone name and TypeError for
    anything that is not a zone.
    """
    if type(value) is ZoneInfo or type(value) is timezone:  # always usable: spare the checks
        return value
    if value is None or isinstance(value, tzinfo) and not isinstance(value, str):
        if value is not None and is_pytz(value):
            return zoneinfo_twin(value, argname)
        if value is not None and value.utcoffset(datetime(2000, 1, 1)) is None:
            raise ValueError(f"{argname}: {value!r} is not a usable time zone")
        return value
    if isinstance(value, str):
        if value.upper() == "UTC":
            return UTC
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{argname}: unknown timezone {value!r}") from None
    raise TypeError(f"{argname}: expected a time zone name or tzinfo, got {type(value).__name__}")


def is_pytz(tz: tzinfo) -> bool:
    """Whether ``tz`` comes from pytz (told by its class's module, so pytz need not be installed)."""
    kind = type(tz)
    if kind is ZoneInfo or kind is timezone:  # nearly every zone: asked three times a job
        return False
    return kind.__module__.partition(".")[0] == "pytz"


def zoneinfo_twin(tz: tzinfo, argname: str = "timezone") -> tzinfo:
    """The zoneinfo zone of the same name as a pytz zone, or the same fixed offset.

    pytz zones give right answers only through their own ``localize``/``normalize``;
    used as a plain tzinfo (``datetime(..., tzinfo=zone)``, ``astimezone``, arithmetic)
    a named zone sits at its first offset, the local mean time of the 19th century
    (Europe/Berlin +00:53). So schedctl never computes with one.
    """
    name = getattr(tz, "zone", None)
    if name:
        if name == "UTC":
            return UTC
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{argname}: the pytz zone {name!r} has no zoneinfo zone of that name; "
                "pass a zone name such as 'Europe/Berlin' instead"
            ) from None
    offset = tz.utcoffset(None)  # pytz.FixedOffset: no name, one offset
    if offset is None:
        raise ValueError(f"{argname}: {tz!r} is not a usable time zone")
    return timezone(offset)


def from_pytz(value: datetime, argname: str) -> datetime:
    """An aware datetime whose tzinfo is a pytz zone, in that zone's zoneinfo twin.

    A datetime made with ``zone.localize()`` keeps its instant (and so its fold); one
    made with ``tzinfo=zone`` carries the zone's local mean time, which nobody means:
    its wall time is read in the twin instead.
    """
    twin = zoneinfo_twin(value.tzinfo, argname)  # type: ignore[arg-type]
    wall, offset = value.replace(tzinfo=None), value.utcoffset()
    for fold in (0, 1):
        candidate = wall.replace(tzinfo=twin, fold=fold)
        if candidate.utcoffset() == offset:
            return candidate
    return localize(wall, twin)


def zone_name(tz: tzinfo) -> str:
    """A stable name for a zone, used when serializing triggers."""
    if tz is UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    if key:
        return str(key)
    name = tz.tzname(None)
    if name:
        return name
    raise ValueError(f"time zone {tz!r} has no name and cannot be stored")


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to a naive wall time.

    An ambiguous time takes its first occurrence; a time inside a spring-forward
    gap is moved forward by the size of the gap (02:30 on a 1-hour gap -> 03:30).
    """
    # zoneinfo reads a gap time with fold=0 at the offset in force before the jump,
    # so the round trip through UTC lands exactly ``gap`` later on the wall clock.
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


def convert_to_datetime(
    value: str | datetime | date | None, tz: tzinfo, argname: str
) -> datetime | None:
    """Accept a datetime, a date or an ISO-like string and return an aware datetime.

    Naive values are read in ``tz``; a pytz-aware value moves to the pytz zone's
    zoneinfo twin. Raises ValueError naming ``argname`` for strings that are not
    dates and TypeError for other types.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
        if value.tzinfo is not None and is_pytz(value.tzinfo):
            return from_pytz(value, argname)
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        result = _parse_datetime_string(value, argname)
    else:
        raise TypeError(
            f"{argname}: expected a datetime, a date or an ISO date/time string, "
            f"got {type(value).__name__} {value!r}"
        )
    if result.tzinfo is None or result.utcoffset() is None:
        return localize(result.replace(tzinfo=None), tz)
    return result


def _parse_datetime_string(value: str, argname: str) -> datetime:
    text = value.strip()
    if len(text) > 10 and text[10] == "T":
        try:  # the stores' own isoformat() texts: the fast path when loading many jobs
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    match = _DATE_RE.match(text)
    if not match:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{argname}: {value!r} is not a date/time (use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)"
            ) from None
    parts = match.groupdict()
    tz_text = parts.pop("tz")
    micro = parts.pop("microsecond")
    fields = {k: int(v) for k, v in parts.items() if v is not None}
    if micro:
        fields["microsecond"] = int(micro.ljust(6, "0"))
    try:
        result = datetime(**fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{argname}: {value!r} is not a valid date/time ({exc})") from None
    if tz_text:
        if tz_text == "Z":
            return result.replace(tzinfo=UTC)
        sign = 1 if tz_text[0] == "+" else -1
        digits = tz_text[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return result.replace(tzinfo=timezone(sign * offset))
    return result


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused because they are ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def datetime_repr(value: datetime | None) -> str:
    """How datetimes appear in reprs and print_jobs: ``2026-12-01 09:00:00 CET``."""
    if value is None:
        return "None"
    return value.strftime("%Y-%m-%d %H:%M:%S %Z")


def to_epoch_ms(value: datetime) -> int:
    """Integer milliseconds since the epoch: how stores keep instants, exactly comparable."""
    delta = to_utc(value) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
