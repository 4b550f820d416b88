"""DateTrigger: run once, at one instant."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from schedctl.clock import SystemClock
from schedctl.timeutil import datetime_repr
from schedctl.triggers._common import (
    STATE_VERSION,
    aware,
    check_version,
    datetime_to_state,
    resolve_zone,
    utc_instant,
    zone_from_state,
    zone_to_state,
)
from schedctl.triggers.base import BaseTrigger


class DateTrigger(BaseTrigger):
    """Fires once, at ``run_date`` (APScheduler 3 semantics).

    ``run_date=None`` means "now", read from :class:`~schedctl.clock.SystemClock`
    (the scheduler passes its own clock's time instead, so tests stay on a
    FakeClock). A naive ``run_date`` is read in ``timezone``: an ambiguous wall
    time takes its first occurrence, a wall time inside a spring-forward gap moves
    forward by the gap. An aware ``run_date`` keeps its instant and is shown in
    ``timezone``, or in its own zone when no ``timezone`` is given.

    The run date is returned whenever there is no previous fire time, even when it
    is already past (the scheduler's misfire rules decide what that means), and
    never again afterwards.
    """

    alias = "date"

    def __init__(
        self, run_date: str | datetime | date | None = None, timezone: str | tzinfo | None = None
    ) -> None:
        self.timezone = resolve_zone(timezone, run_date)
        if run_date is None:
            run_date = SystemClock().now()
        self.run_date: datetime = aware(run_date, self.timezone, "run_date")  # type: ignore[assignment]

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return self.run_date if previous_fire_time is None else None

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The run date if it has not fired and is at or after ``earliest``."""
        if previous is not None or self.run_date < utc_instant(earliest, "earliest"):
            return None
        return self.run_date

    def describe(self) -> str:
        fmt = "%Y-%m-%d %H:%M:%S %Z" if self.run_date.second else "%Y-%m-%d %H:%M %Z"
        return f"once at {self.run_date.strftime(fmt)}"

    def __str__(self) -> str:
        return f"date[{datetime_repr(self.run_date)}]"

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "run_date": datetime_to_state(self.run_date),
            "timezone": zone_to_state(self.timezone),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DateTrigger:
        check_version(state, cls)
        return cls(run_date=state["run_date"], timezone=zone_from_state(state["timezone"]))
