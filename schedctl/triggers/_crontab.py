"""Crontab strings (rule A of the conformance spec) on top of cronsim.

cronsim does the calendar search. This module adds what it lacks: messages that
name the field and the value, macros in any case, ``SAT-SUN`` style ranges,
``N-N/S`` read as the single value N (cronsim reads it as ``N/S``), impossible
day combinations found at construction, and searches past cronsim's 50-year
horizon. cronsim only ever sees naive wall-clock times: DST is ``_dst``'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from cronsim import CronSim, CronSimError

from schedctl.triggers._cronfields import impossible_day_reason, month_reachable

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_ITEM = re.compile(r"(?P<first>\*|[0-9A-Z]+)(?:-(?P<last>[0-9A-Z]+))?(?:/(?P<step>[0-9]+))?$")
_LAST_WEEKDAY = re.compile(r"[0-7]L$")
_NTH_WEEKDAY = re.compile(r"(?P<day>[0-9A-Z]+)#(?P<nth>[0-9]+)$")
_ANCHOR = datetime(2000, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    _Field("day-of-week", 0, 7, {n: i for i, n in enumerate(_WEEKDAYS)}),
)


def crontab_schedule(expr: str) -> CrontabSchedule:
    """The schedule of ``expr``, parsed once per process and shared.

    A schedule never changes once built, and triggers are rebuilt from their text far more
    often than jobs change: at every claim from a SQL store, and for every job that
    ``schedctl list`` shows. Parsing and checking a line costs 0.3 ms; a jobfile uses a
    handful of distinct lines. Anything but a string is parsed (and refused) every time.
    """
    if not isinstance(expr, str):
        return CrontabSchedule(expr)
    return _shared_schedule(" ".join(expr.split()))


class CrontabSchedule:
    """Matching wall-clock times of a crontab line; ``fields`` are its six normalized fields."""

    def __init__(self, expr: str) -> None:
        if not isinstance(expr, str):
            raise TypeError(f"cron expression: expected a string, got {expr!r}")
        self.expression = " ".join(expr.split())
        self._label = f"cron expression {self.expression!r}"
        self.fields, dom_values, months = self._parse()
        self.is_wildcard = self.fields[1].startswith("*") or self.fields[2].startswith("*")
        self._check_days(dom_values, months)
        try:
            self._prototype = CronSim(" ".join(self.fields), _ANCHOR)
        except CronSimError as exc:  # our checks should have caught everything first
            raise ValueError(f"{self._label}: {exc}") from None
        self._fast = "dt" in vars(self._prototype)
        if not month_reachable(sorted(months), self._prototype.match_day):
            raise ValueError(
                f"{self._label} never fires: no day matches both day-of-month "
                f"{self.fields[3]!r} and day-of-week {self.fields[5]!r}"
            )

    def next_after(self, wall: datetime) -> datetime | None:
        """The first matching wall time strictly after ``wall`` (naive), or None."""
        start = wall
        while True:
            try:
                return next(self._simulator(start))
            except StopIteration:
                # cronsim gives up after 50 years without a match; a possible schedule
                # (checked at construction) matches within 400, so search on.
                if start.year + 51 > 9999:
                    return None
                start = datetime(start.year + 51, 1, 1) - _MICROSECOND
            except (OverflowError, ValueError):  # ran past year 9999
                return None

    def _simulator(self, start: datetime) -> CronSim:
        if not self._fast:
            return CronSim(" ".join(self.fields), start)
        # Re-parsing the expression costs more than the search: reuse the parsed state.
        simulator = CronSim.__new__(CronSim)
        simulator.__dict__.update(vars(self._prototype))
        simulator.dt = start.replace(microsecond=0)
        return simulator

    def _parse(self) -> tuple[tuple[str, ...], set[int] | None, set[int]]:
        if not self.expression:
            raise ValueError("cron expression: is empty")
        text = self.expression
        if text.startswith("@"):
            if text.lower() == "@reboot":
                raise ValueError(f"{self._label}: @reboot has no fire times; a jobfile's "
                                 "cron: '@reboot' runs a job once after each boot")
            if text.lower() not in MACROS:
                known = ", ".join(["@reboot", *MACROS])
                raise ValueError(f"{self._label}: unknown macro (known: {known})")
            text = MACROS[text.lower()]
        parts = text.upper().split()
        if len(parts) == 5:
            parts.insert(0, "0")
        elif len(parts) != 6:
            raise ValueError(
                f"{self._label}: expected 5 fields (minute hour day-of-month month day-of-week) "
                f"or 6 (second first), got {len(parts)}"
            )
        values: list[set[int] | None] = []
        fields = tuple(self._field(spec, part, values) for spec, part in zip(_FIELDS, parts))
        months = values[4]
        assert months is not None
        return fields, values[3], months

    def _field(self, spec: _Field, text: str, values: list[set[int] | None]) -> str:
        """Validate one field; append its plain values (None when it has L/#-style items)."""
        found: set[int] | None = set()
        items = []
        for item in text.split(","):
            if not item:
                raise ValueError(f"{self._label}: {spec.name} {text!r} has an empty list item")
            special = self._special(spec, item)
            if special is not None:
                items.append(special)
                found = None
                continue
            normalized, numbers = self._item(spec, item)
            items.append(normalized)
            if found is not None:
                found.update(numbers)
        values.append(found)
        return ",".join(items)

    def _special(self, spec: _Field, item: str) -> str | None:
        """L, LW, nL and D#n, the items that name a day by its place in the month."""
        if spec.name == "day-of-month" and item in ("L", "LW"):
            return item
        if spec.name != "day-of-week":
            return None
        if _LAST_WEEKDAY.match(item):
            return item
        match = _NTH_WEEKDAY.match(item)
        if not match:
            return None
        nth = int(match.group("nth"))
        if not 1 <= nth <= 5:
            raise ValueError(f"{self._label}: day-of-week {item!r}: #{nth} is out of range 1-5")
        return f"{self._value(spec, match.group('day'))}#{nth}"

    def _item(self, spec: _Field, item: str) -> tuple[str, range]:
        match = _ITEM.match(item)
        if not match or match.group("first") == "*" and match.group("last"):
            raise ValueError(f"{self._label}: {spec.name} {item!r} is not a valid item")
        first, last, step = match.group("first", "last", "step")
        if step is not None and int(step) < 1:
            raise ValueError(f"{self._label}: {spec.name} {item!r}: the step must be at least 1")
        if first == "*":
            return item, range(spec.low, spec.high + 1, int(step or 1))
        low = self._value(spec, first)
        high = self._range_end(spec, last, low) if last else (spec.high if step else low)
        if high < low:
            raise ValueError(f"{self._label}: {spec.name} range {item!r} is reversed")
        numbers = range(low, high + 1, int(step or 1))
        if low == high:
            return str(low), numbers
        return f"{low}-{high}" + (f"/{step}" if step else ""), numbers

    def _range_end(self, spec: _Field, token: str, low: int) -> int:
        # SUN ends a weekday range as 7, so SAT-SUN and FRI-SUN wrap to Sunday.
        if spec.name == "day-of-week" and token == "SUN" and low > 0:
            return 7
        return self._value(spec, token)

    def _value(self, spec: _Field, token: str) -> int:
        if token in spec.names:
            return spec.names[token]
        if not token.isdigit():
            raise ValueError(
                f"{self._label}: {spec.name} {token!r} is not a number"
                + (" or a name" if spec.names else "")
            )
        value = int(token)
        if not spec.low <= value <= spec.high:
            raise ValueError(
                f"{self._label}: {spec.name} {token} is out of range {spec.low}-{spec.high}"
            )
        return value

    def _check_days(self, dom_values: set[int] | None, months: set[int]) -> None:
        """Both day fields must match when either starts with ``*`` (Vixie): refuse the impossible."""
        day_and = self.fields[3].startswith("*") or self.fields[5].startswith("*")
        if day_and and dom_values:
            reason = impossible_day_reason(dom_values, months)
            if reason:
                raise ValueError(f"{self._label} never fires: {reason}")


@lru_cache(maxsize=256)
def _shared_schedule(expr: str) -> CrontabSchedule:
    return CrontabSchedule(expr)
