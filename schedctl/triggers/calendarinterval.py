"""CalendarIntervalTrigger: every N years, months, weeks or days, at one time of day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from schedctl.timeutil import UTC, convert_to_datetime
from schedctl.triggers._common import (
    STATE_VERSION,
    check_bounds,
    check_jitter,
    check_version,
    join_words,
    plural,
    resolve_zone,
    utc_instant,
    zone_from_state,
    zone_to_state,
)
from schedctl.triggers.base import BaseTrigger

DateArg = str | date | None
_AMOUNTS = ("years", "months", "weeks", "days")
_CLOCK = {"hour": 23, "minute": 59, "second": 59}


class CalendarIntervalTrigger(BaseTrigger):
    """Fires on calendar steps at a fixed wall-clock time (APScheduler 3.11 semantics).

    From a previous fire date, ``years`` and ``months`` are added first, keeping the
    day of the month and skipping months where that day does not exist; then
    ``weeks`` and ``days``. A date whose time falls into a spring-forward gap is
    skipped; a repeated time runs on its first pass. Without a previous fire time
    the first run is on ``start_date``, even when that is past. Without a
    ``start_date`` the schedule is anchored at first use, on ``now``'s date in the
    zone: the first run is the first step from that date strictly after ``now``
    (the trigger never reads the clock, so it cannot take "today" at construction).
    ``start_date`` and ``end_date`` are dates; ``end_date`` is inclusive.
    """

    alias = "calendarinterval"

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        start_date: DateArg = None,
        end_date: DateArg = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        amounts = {"years": years, "months": months, "weeks": weeks, "days": days}
        for name, value in amounts.items():
            _check_int(name, value, 0, None)
        if not any(amounts.values()):
            raise ValueError(
                "interval: must be at least 1 day long (years, months, weeks and days are all 0)"
            )
        for name, value in (("hour", hour), ("minute", minute), ("second", second)):
            _check_int(name, value, 0, _CLOCK[name])
        self.years, self.months, self.weeks, self.days = years, months, weeks, days
        self.timezone = resolve_zone(timezone)
        self.start_date = _as_date(start_date, self.timezone, "start_date")
        self.end_date = _as_date(end_date, self.timezone, "end_date")
        check_bounds(self.start_date, self.end_date, show=str)
        self.jitter = check_jitter(jitter)
        self.time = time(hour, minute, second)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire_time = self._next_fire_time(previous_fire_time, now)
        if fire_time is None or not self.jitter:
            return fire_time
        jittered = self._apply_jitter(fire_time.astimezone(UTC), self.jitter)
        return None if jittered is None else jittered.astimezone(self.timezone)

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The unjittered next fire time."""
        try:
            if previous_fire_time is not None:
                return self._first_fire(
                    self._step(self._local_date(previous_fire_time, "previous_fire_time"))
                )
            if self.start_date is not None:
                return self._first_fire(self.start_date)
            return self._first_fire(self._local_date(now, "now"), after=utc_instant(now, "now"))
        except OverflowError:
            return None

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The first fire time at or after ``earliest`` in the sequence from ``previous``, no jitter."""
        earliest_utc = utc_instant(earliest, "earliest")
        fire_time = self._next_fire_time(previous, earliest)
        try:
            while fire_time is not None and fire_time < earliest_utc:
                fire_time = self._first_fire(self._step(fire_time.date()))
        except OverflowError:
            return None
        return fire_time

    def _first_fire(self, day: date, after: datetime | None = None) -> datetime | None:
        """The first fire time on ``day`` or a later step (and after ``after``), within end_date."""
        while self.end_date is None or day <= self.end_date:
            fire_time = self._fire_on(day)
            if fire_time is not None and (after is None or fire_time > after):
                return fire_time
            day = self._step(day)
        return None

    def _fire_on(self, day: date) -> datetime | None:
        """``day`` at the trigger's time, or None when that wall time does not exist."""
        wall = datetime.combine(day, self.time)
        fire_time = wall.replace(tzinfo=self.timezone).astimezone(UTC).astimezone(self.timezone)
        return fire_time if fire_time.replace(tzinfo=None) == wall else None

    def _step(self, day: date) -> date:
        """The next date in the sequence; OverflowError past year 9999."""
        year, month = day.year, day.month
        while True:
            month += self.months
            year += self.years + (month - 1) // 12
            month = (month - 1) % 12 + 1
            if year > 9999:
                raise OverflowError("calendar interval ran past year 9999")
            try:
                moved = date(year, month, day.day)
            except ValueError:  # no such day in that month: skip it
                continue
            return moved + timedelta(days=self.days + 7 * self.weeks)

    def _local_date(self, instant: datetime, argname: str) -> date:
        return utc_instant(instant, argname).astimezone(self.timezone).date()

    def _amounts(self) -> list[str]:
        return [plural(getattr(self, name), name[:-1]) for name in _AMOUNTS if getattr(self, name)]

    def describe(self) -> str:
        amounts = self._amounts()
        every = (
            amounts[0][2:]
            if amounts == [amounts[0]] and amounts[0].startswith("1 ")
            else (join_words(amounts))
        )
        shown = self.time.strftime("%H:%M:%S" if self.time.second else "%H:%M")
        return f"every {every} at {shown}"

    def __str__(self) -> str:
        return f"calendarinterval[{', '.join(self._amounts())} at {self.time.isoformat()}]"

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "years": self.years,
            "months": self.months,
            "weeks": self.weeks,
            "days": self.days,
            "hour": self.time.hour,
            "minute": self.time.minute,
            "second": self.time.second,
            "start_date": None if self.start_date is None else self.start_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
            "timezone": zone_to_state(self.timezone),
            "jitter": self.jitter,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CalendarIntervalTrigger:
        check_version(state, cls)
        fields = {k: state[k] for k in (*_AMOUNTS, *_CLOCK, "start_date", "end_date", "jitter")}
        return cls(timezone=zone_from_state(state["timezone"]), **fields)


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a whole number, got {value!r}")
    if value < low or high is not None and value > high:
        shown = f"out of range {low}-{high}" if high is not None else "negative"
        raise ValueError(f"{name}: {value!r} is {shown}")


def _as_date(value: DateArg | datetime, tz: tzinfo, argname: str) -> date | None:
    """A date argument: a date, a ``YYYY-MM-DD`` string, or a datetime (its date in ``tz``)."""
    if value is None or type(value) is date:
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    result = convert_to_datetime(value, tz, argname)
    assert result is not None
    return result.astimezone(tz).date()
