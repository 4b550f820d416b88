"""The keyword form of CronTrigger: APScheduler 3 field expressions, matched on wall-clock time.

The search works on naive wall-clock datetimes only; turning matches into instants
across DST changes is ``_dst``'s business, shared with crontab strings.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

FIELD_NAMES = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
BOUNDS = {
    "year": (1970, 9999),
    "month": (1, 12),
    "day": (1, 31),
    "week": (1, 53),
    "day_of_week": (0, 6),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}
#: What a field less significant than the last one given defaults to (APScheduler 3).
_DEFAULTS = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES = {
    "month": {n: i + 1 for i, n in enumerate(MONTH_NAMES)},
    "day_of_week": {n: i for i, n in enumerate(WEEKDAY_NAMES)},
}
_RANKS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}
_ITEM = re.compile(r"(?P<first>\*|[a-z0-9]+)(?:-(?P<last>[a-z0-9]+))?(?:/(?P<step>[0-9]+))?$")
_NTH = re.compile(r"(?P<rank>[0-9](?:st|nd|rd|th)|last)(?: (?P<weekday>[a-z]+))?$")
_SECOND = timedelta(seconds=1)
_DAY_CACHE_SIZE = 1024

#: (rank, weekday): rank 1..5 or -1 for "last"; weekday 0..6, or None for the last day.
DaySpecial = tuple[int, int | None]


def given_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The fields a caller gave, as normalized text (lower case, no blanks around commas)."""
    texts = {}
    for name in FIELD_NAMES:
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"{name}: expected an int or a string, got {value!r}")
        text = ",".join(" ".join(part.split()) for part in str(value).lower().split(","))
        if not text.strip(","):
            raise ValueError(f"{name}: {value!r} is empty")
        texts[name] = text
    return texts


def resolve_fields(given: Mapping[str, str]) -> dict[str, str]:
    """All eight fields after APScheduler 3's defaults.

    Fields more significant than the least significant one given are ``*``; the
    rest take their minimum, except week and day_of_week, which stay ``*``.
    """
    positions = [FIELD_NAMES.index(name) for name in given]
    last = max(positions, default=len(FIELD_NAMES))
    return {
        name: given.get(name, "*" if index < last else _DEFAULTS[name])
        for index, name in enumerate(FIELD_NAMES)
    }


def parse_field(name: str, text: str) -> tuple[frozenset[int] | None, tuple[DaySpecial, ...]]:
    """The values a field allows (None: all) and, for ``day``, its weekday-rank items."""
    values: set[int] = set()
    specials: list[DaySpecial] = []
    every = False
    for item in text.split(","):
        if name == "day" and _NTH.match(item):
            specials.append(_day_special(item, text))
            continue
        if item == "*":
            every = True
        else:
            values.update(_parse_item(name, item, text))
    return (None if every else frozenset(values)), tuple(specials)


def _day_special(item: str, text: str) -> DaySpecial:
    match = _NTH.match(item)
    assert match is not None
    rank, weekday = match.group("rank"), match.group("weekday")
    if rank not in _RANKS:
        raise ValueError(f"day: {text!r}: {rank!r} is not 1st, 2nd, 3rd, 4th, 5th or last")
    if weekday is None:
        if rank != "last":
            raise ValueError(f"day: {text!r}: {item!r} needs a weekday (e.g. '{rank} fri')")
        return (-1, None)
    if weekday not in WEEKDAY_NAMES:
        raise ValueError(f"day: {text!r}: {weekday!r} is not a weekday name (mon..sun)")
    return (_RANKS[rank], WEEKDAY_NAMES.index(weekday))


def _parse_item(name: str, item: str, text: str) -> range:
    match = _ITEM.match(item)
    if not match:
        raise ValueError(f"{name}: {text!r} is not a valid expression ({item!r})")
    first, last, step = match.group("first", "last", "step")
    low, high = BOUNDS[name]
    if first == "*":
        if last is not None:
            raise ValueError(f"{name}: {text!r} is not a valid expression ({item!r})")
        start, stop = low, high
    else:
        start = _number(name, first, text)
        stop = _number(name, last, text) if last else (high if step else start)
        if stop < start:
            raise ValueError(
                f"{name}: {text!r} is a reversed range ({first}-{last}); "
                "ranges must not wrap around"
            )
    if step is not None and int(step) < 1:
        raise ValueError(f"{name}: {text!r}: the step must be at least 1")
    return range(start, stop + 1, int(step or 1))


def _number(name: str, token: str, text: str) -> int:
    low, high = BOUNDS[name]
    if token.isdigit():
        value = int(token)
        if not low <= value <= high:
            raise ValueError(f"{name}: {text!r} is out of range {low}-{high}")
        return value
    names = _NAMES.get(name, {})
    if token in names:
        return names[token]
    raise ValueError(
        f"{name}: {text!r} is not a valid expression ({token!r} is not a number"
        + (f" or one of {', '.join(names)})" if names else ")")
    )


class KeywordSchedule:
    """Matching wall-clock times of APScheduler 3 keyword fields (day and day_of_week ANDed)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        parsed = {name: parse_field(name, fields[name]) for name in FIELD_NAMES}
        self._years = _sorted(parsed["year"][0])
        self._months = _sorted(parsed["month"][0])
        self._day_values, self._day_specials = parsed["day"]
        self._weeks = parsed["week"][0]
        self._weekdays = parsed["day_of_week"][0]
        self._hours = _sorted(parsed["hour"][0])
        self._minutes = _sorted(parsed["minute"][0])
        self._seconds = _sorted(parsed["second"][0])
        self._day_cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def next_after(self, wall: datetime) -> datetime | None:
        """The first matching wall time strictly after ``wall`` (naive), or None."""
        moment = wall.replace(microsecond=0) + _SECOND
        day, clock = moment.date(), moment.time()
        while True:
            found = self._next_date(day)
            if found is None:
                return None
            if found != day:
                day, clock = found, time()
            match = self._next_time(clock)
            if match is not None:
                return datetime.combine(day, match)
            if day == date.max:
                return None
            day, clock = day + timedelta(days=1), time()

    def _next_date(self, day: date) -> date | None:
        year, month, mday = day.year, day.month, day.day
        if year < BOUNDS["year"][0]:
            year, month, mday = BOUNDS["year"][0], 1, 1
        while True:
            found_year = _next_value(self._years, year)
            if found_year is None or found_year > BOUNDS["year"][1]:
                return None
            if found_year != year:
                year, month, mday = found_year, 1, 1
            found_month = _next_value(self._months, month)
            if found_month is None:
                year, month, mday = year + 1, 1, 1
                continue
            if found_month != month:
                month, mday = found_month, 1
            found_day = _next_value(self.days(year, month), mday)
            if found_day is not None:
                return date(year, month, found_day)
            year, month, mday = (year, month + 1, 1) if month < 12 else (year + 1, 1, 1)

    def _next_time(self, clock: time) -> time | None:
        hour, minute, second = clock.hour, clock.minute, clock.second
        while hour < 24:
            found_hour = _next_value(self._hours, hour)
            if found_hour is None:
                return None
            if found_hour != hour:
                hour, minute, second = found_hour, 0, 0
            found_minute = _next_value(self._minutes, minute)
            if found_minute is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found_minute != minute:
                minute, second = found_minute, 0
            found_second = _next_value(self._seconds, second)
            if found_second is not None:
                return time(hour, minute, found_second)
            hour, minute, second = (hour, minute + 1, 0) if minute < 59 else (hour + 1, 0, 0)
        return None

    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of one month, cached: the search asks for the same months often."""
        key = (year, month)
        found = self._day_cache.get(key)
        if found is None:
            if len(self._day_cache) >= _DAY_CACHE_SIZE:
                self._day_cache.clear()
            found = self._day_cache[key] = tuple(sorted(self._matching_days(year, month)))
        return found

    def _matching_days(self, year: int, month: int) -> Iterable[int]:
        first_weekday, length = calendar.monthrange(year, month)
        if self._day_values is None:
            days: set[int] = set(range(1, length + 1))
        else:
            days = {d for d in self._day_values if d <= length}
            days.update(_special_day(s, first_weekday, length) for s in self._day_specials)
            days.discard(0)
        if self._weekdays is not None:
            days = {d for d in days if (first_weekday + d - 1) % 7 in self._weekdays}
        if self._weeks is not None:
            days = {d for d in days if date(year, month, d).isocalendar()[1] in self._weeks}
        return days

    def is_possible(self) -> bool:
        """Whether any date matches. Ignores the year when it allows many (the calendar repeats)."""
        years = self._years if self._years and len(self._years) <= 28 else range(2000, 2028)
        return any(self.days(y, m) for y in years for m in self._months or range(1, 13))

    def day_numbers(self) -> frozenset[int] | None:
        """The plain day numbers when nothing else limits the day (for error messages)."""
        if self._day_specials or self._weekdays is not None or self._weeks is not None:
            return None
        return self._day_values

    def months(self) -> tuple[int, ...]:
        return self._months or tuple(range(1, 13))


def _special_day(special: DaySpecial, first_weekday: int, length: int) -> int:
    """The day of the month a rank item names, or 0 when this month has none."""
    rank, weekday = special
    if weekday is None:
        return length
    first = 1 + (weekday - first_weekday) % 7
    day = first + 7 * ((length - first) // 7) if rank == -1 else first + 7 * (rank - 1)
    return day if day <= length else 0


def _sorted(values: frozenset[int] | None) -> tuple[int, ...] | None:
    return None if values is None else tuple(sorted(values))


def _next_value(values: tuple[int, ...] | None, value: int) -> int | None:
    if values is None:
        return value
    index = bisect_left(values, value)
    return values[index] if index < len(values) else None


def impossible_day_reason(days: Iterable[int], months: Iterable[int]) -> str | None:
    """``February has no 30th`` when plain day numbers exceed every chosen month's length."""
    first, months = min(days, default=0), sorted(months)
    if not months or first <= max(_longest(m) for m in months):
        return None
    names = [calendar.month_name[m] for m in months]
    if len(names) == 1:
        return f"{names[0]} has no {ordinal(first)}"
    return f"none of {', '.join(names)} has a {ordinal(first)}"


def _longest(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def month_reachable(months: Iterable[int], matches: Callable[[date], bool]) -> bool:
    """Whether some date of ``months`` matches, over 28 years that hold every calendar shape."""
    for month in months:
        seen = set()
        for year in range(2000, 2028):
            shape = calendar.monthrange(year, month)
            if shape in seen:
                continue
            seen.add(shape)
            if any(matches(date(year, month, d)) for d in range(1, shape[1] + 1)):
                return True
    return False
