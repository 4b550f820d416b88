"""IntervalTrigger: run every fixed amount of absolute time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from math import isfinite
from typing import Any

from schedctl.timeutil import UTC
from schedctl.triggers._common import (
    ONE_MICROSECOND,
    STATE_VERSION,
    aware,
    bounds_reason,
    check_jitter,
    check_version,
    datetime_to_state,
    join_words,
    json_text,
    plural,
    resolve_zone,
    utc_instant,
    zone_from_state,
    zone_to_state,
)
from schedctl.triggers.base import BaseTrigger

DateArg = str | datetime | date | None
#: Past this many seconds an interval is no timedelta: the constructor refuses it.
_MAX_SECONDS = timedelta.max.total_seconds()
_UNITS = (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60))


class IntervalTrigger(BaseTrigger):
    """Fires every ``interval`` of absolute time (APScheduler 3 semantics).

    The arithmetic is on instants, not wall clocks: ``days=1`` is 86 400 s, so
    the wall-clock time shifts by an hour across a DST change. An interval of 0
    becomes 1 s. Fire times lie on the grid ``start_date + k * interval``; with
    no ``start_date`` the grid is anchored at first use: the first fire time is
    ``now + interval`` (the trigger never reads the clock itself, so it cannot
    pin "now" at construction the way APScheduler 3 does).

    Jitter delays each run from its grid slot and never moves the grid: the next
    slot follows the slot of the previous run, not its delayed time, so delays do
    not add up. To know the slots, a jittered trigger with no ``start_date`` pins
    its grid at first use (as APScheduler 3 pins ``start_date`` at construction);
    the pin is part of its stored state. A grid that reaches the end of year 9999
    ends there: the end of time is the end of the schedule.
    """

    alias = "interval"

    def __init__(
        self,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start_date: DateArg = None,
        end_date: DateArg = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        if (  # the usual case, whole amounts, checked in one step
            type(weeks) is type(days) is type(hours) is type(minutes) is type(seconds) is int
            and min(weeks, days, hours, minutes, seconds) >= 0
        ):
            # One number of seconds: timedelta's five keywords cost three times as much.
            whole = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds or 1
            self.interval = timedelta(0, whole)
            self._step_us = whole * 1_000_000
        else:
            for name, value in (
                ("weeks", weeks), ("days", days), ("hours", hours), ("minutes", minutes),
                ("seconds", seconds),
            ):
                _check_amount(name, value)
            self.interval = timedelta(
                weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
            ) or timedelta(seconds=1)
            self._step_us = self.interval // ONE_MICROSECOND
        self.timezone = resolve_zone(timezone, start_date, end_date)
        self.start_date = aware(start_date, self.timezone, "start_date")
        self.end_date = None if end_date is None else aware(end_date, self.timezone, "end_date")
        self.jitter = None if jitter is None else check_jitter(jitter)
        #: Where the grid of a jittered trigger with no start_date was pinned (UTC).
        self._pinned: datetime | None = None

    @property
    def _anchor(self) -> datetime | None:
        """The instant the grid is laid from, when there is one."""
        return self.start_date if self.start_date is not None else self._pinned

    def never_fires(self) -> str | None:
        """Accepted as APScheduler 3 accepts it, an end before the start leaves no fire time."""
        return bounds_reason(self.start_date, self.end_date)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Jitter before the end_date check (APScheduler 3): a late jittered run is no run.
        fire_time = self._grid_time(previous_fire_time, now)
        return self._within_end(self._apply_jitter(fire_time, self.jitter))

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The unjittered next fire time (for combining triggers)."""
        return self._within_end(self._grid_time(previous_fire_time, now))

    def _grid_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The next grid point: the one after ``previous``, else the first at or after now
        (None past the end of time)."""
        try:
            if previous_fire_time is not None:
                previous = utc_instant(previous_fire_time, "previous_fire_time")
                if self.jitter and self._anchor is not None:
                    # ``previous`` is a slot delayed by up to ``jitter``: the slot after it.
                    return self._grid_at_or_after(self._anchor, previous + ONE_MICROSECOND)
                return previous + self.interval
            now = utc_instant(now, "now")
            if self.start_date is None:
                if self._pinned is not None:
                    return self._grid_at_or_after(self._pinned, now)
                first = now + self.interval
                if self.jitter:
                    self._pinned = first
                return first
            return self._grid_at_or_after(self.start_date, now)
        except OverflowError:
            return None

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The first grid point at or after ``earliest`` (no jitter): skips a backlog in one step."""
        earliest = utc_instant(earliest, "earliest")
        if previous is None:
            return self._within_end(self._grid_time(None, earliest))
        previous = utc_instant(previous, "previous")
        anchor = self._anchor if self.jitter and self._anchor is not None else previous
        try:
            return self._within_end(
                self._grid_at_or_after(anchor, max(earliest, previous + ONE_MICROSECOND))
            )
        except OverflowError:
            return None

    def latest_due(self, previous: datetime, now: datetime) -> datetime | None:
        """The newest fire time of the chain ``previous``, ``previous + interval``, ... that is
        at or before ``now`` (and the end date): what walking ``get_next_fire_time`` from
        ``previous`` would reach last, in one step. None when it cannot be told without the
        walk: a jittered trigger's times are random, a subclass may fire otherwise."""
        if self.jitter or type(self).get_next_fire_time is not IntervalTrigger.get_next_fire_time:
            return None
        start = utc_instant(previous, "previous")
        limit = utc_instant(now, "now")
        if self.end_date is not None and self.end_date < limit:
            limit = self.end_date.astimezone(UTC)
        steps = max((limit - start) // ONE_MICROSECOND // self._step_us, 0)
        try:
            return (start + self.interval * steps).astimezone(self.timezone)
        except OverflowError:
            return None

    def _grid_at_or_after(self, anchor: datetime, instant: datetime) -> datetime:
        """The first grid point at or after ``instant``, and not before ``anchor``;
        OverflowError past the end of time."""
        # Integer microseconds: float seconds would drift on long-running grids. UTC, because
        # adding a timedelta to a zoned datetime is wall-clock arithmetic.
        anchor = anchor.astimezone(UTC)
        steps = -(-((instant - anchor) // ONE_MICROSECOND) // self._step_us)
        return anchor + self.interval * max(steps, 0)

    def _within_end(self, fire_time: datetime | None) -> datetime | None:
        if fire_time is None or self.end_date is not None and fire_time > self.end_date:
            return None
        try:
            return fire_time.astimezone(self.timezone)
        except OverflowError:  # a local date past year 9999: the end of time
            return None

    def describe(self) -> str:
        remaining = self.interval.total_seconds()
        parts = []
        for unit, size in _UNITS:
            count, remaining = divmod(remaining, size)
            if count:
                parts.append(plural(count, unit))
        if remaining:
            parts.append(plural(round(remaining, 6), "second"))
        if len(parts) == 1 and parts[0].startswith("1 "):
            return "every " + parts[0][2:]
        return "every " + join_words(parts)

    def __str__(self) -> str:
        return f"interval[{self.interval}]"

    def to_state(self) -> dict[str, Any]:
        seconds = self.interval.total_seconds()
        return {
            "version": STATE_VERSION,
            "seconds": int(seconds) if seconds.is_integer() else seconds,
            "start_date": datetime_to_state(self.start_date),
            "end_date": datetime_to_state(self.end_date),
            "timezone": zone_to_state(self.timezone),
            "jitter": self.jitter,
            **({"pinned": datetime_to_state(self._pinned)} if self._pinned else {}),
        }

    def state_json(self) -> str | None:
        """The JSON text of ``trigger_to_json(self)``, written directly: numbers, dates and a
        zone name have one spelling each. None when ``to_state`` is not this class's or a
        value is not of the types the constructor leaves (the generic encoder decides)."""
        jitter = self.jitter
        if type(self).to_state is not IntervalTrigger.to_state or not (
            jitter is None or type(jitter) in (int, float) and isfinite(jitter)
        ):
            return None
        seconds = self.interval.total_seconds()
        pinned = f',"pinned":"{self._pinned.isoformat()}"' if self._pinned else ""
        return (
            f'{{"type":{json_text(self.alias)},"version":{STATE_VERSION},'
            f'"seconds":{int(seconds) if seconds.is_integer() else seconds!r},'
            f'"start_date":{_json_instant(self.start_date)},'
            f'"end_date":{_json_instant(self.end_date)},'
            f'"timezone":{json_text(zone_to_state(self.timezone))},'
            f'"jitter":{"null" if jitter is None else repr(jitter)}{pinned}}}'
        )

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IntervalTrigger:
        check_version(state, cls)
        trigger = _from_own_state(cls, state) if cls.__init__ is IntervalTrigger.__init__ else None
        if trigger is None:
            trigger = cls(
                seconds=state["seconds"],
                start_date=state["start_date"],
                end_date=state["end_date"],
                timezone=zone_from_state(state["timezone"]),
                jitter=state["jitter"],
            )
        if state.get("pinned"):
            trigger._pinned = aware(state["pinned"], UTC, "pinned")
        return trigger


def _check_amount(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"interval: {name} must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"interval: must not be negative ({name}={value!r})")


def _from_own_state(cls: type[IntervalTrigger], state: dict[str, Any]) -> IntervalTrigger | None:
    """A trigger rebuilt from the state ``to_state`` writes, without the constructor's reading
    of every form the API accepts (a store loads thousands of these in a claim): the amount,
    zone and dates are still checked, as the stored forms. None when the state is in any
    other form, for the constructor to read or refuse with its own message."""
    seconds, jitter = state["seconds"], state["jitter"]
    start, end = state["start_date"], state["end_date"]
    if type(seconds) not in (int, float) or not 0 <= seconds < _MAX_SECONDS:
        return None
    if jitter is not None and (type(jitter) not in (int, float) or not jitter >= 0):
        return None
    zone = zone_from_state(state["timezone"])
    try:
        start_date = None if start is None else _stored_instant(start).astimezone(zone)
        end_date = None if end is None else _stored_instant(end).astimezone(zone)
    except (TypeError, ValueError, OverflowError):
        return None
    trigger = cls.__new__(cls)
    trigger.interval = timedelta(seconds=seconds) or timedelta(seconds=1)
    trigger._step_us = trigger.interval // ONE_MICROSECOND
    trigger.timezone, trigger.start_date, trigger.end_date = zone, start_date, end_date
    trigger.jitter, trigger._pinned = jitter, None
    return trigger


def _json_instant(value: datetime | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'


def _stored_instant(text: str) -> datetime:
    """An aware datetime from its stored ISO text; ValueError for anything else."""
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value
