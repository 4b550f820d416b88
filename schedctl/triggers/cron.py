"""CronTrigger: wall-clock schedules, from keyword fields (APScheduler 3) or crontab strings."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
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
    resolve_zone,
    utc_instant,
    zone_from_state,
    zone_to_state,
)
from schedctl.triggers._crondescribe import describe_fields
from schedctl.triggers._cronfields import (
    KeywordSchedule,
    given_fields,
    impossible_day_reason,
    resolve_fields,
)
from schedctl.triggers._crontab import crontab_schedule
from schedctl.triggers._dst import NextWall, next_instant
from schedctl.triggers.base import BaseTrigger

DateArg = str | datetime | date | None
Field = int | str | None
_CRONTAB_ORDER = ("second", "minute", "hour", "day", "month", "day_of_week")


class CronTrigger(BaseTrigger):
    """Fires at the wall-clock times that match every field, in ``timezone``.

    The keyword form follows APScheduler 3's fields (``day_of_week`` 0 is Monday,
    ``day`` and ``day_of_week`` are ANDed, unset less significant fields take their
    minimum); :meth:`from_crontab` reads crontab lines the Debian way (0 and 7 are
    Sunday, day-of-month and day-of-week ORed when both are restricted).

    Both forms share one DST policy. A *fixed-time* job (minute and hour not
    starting with ``*``) runs once on the first pass of a repeated hour, and at the
    transition instant when its time falls into a spring-forward gap; a *wildcard*
    job runs at every wall time that exists, on both passes. The next fire time is
    always strictly after ``previous_fire_time`` (or ``now`` without one) and at or
    after ``start_date``; past ``end_date`` (inclusive) there is none. Jitter adds
    0..``jitter`` seconds and is clamped to ``end_date``.
    """

    alias = "cron"
    _never_fires: str | None

    def __init__(
        self,
        year: Field = None,
        month: Field = None,
        day: Field = None,
        week: Field = None,
        day_of_week: Field = None,
        hour: Field = None,
        minute: Field = None,
        second: Field = None,
        start_date: DateArg = None,
        end_date: DateArg = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        self.expression: str | None = None
        self.fields = given_fields(
            {
                "year": year,
                "month": month,
                "day": day,
                "week": week,
                "day_of_week": day_of_week,
                "hour": hour,
                "minute": minute,
                "second": second,
            }
        )
        self._resolved = resolve_fields(self.fields)
        schedule = KeywordSchedule(self._resolved)
        wildcard = self._resolved["minute"].startswith("*") or self._resolved["hour"].startswith(
            "*"
        )
        next_wall: NextWall = schedule.next_after
        impossible = None
        if not schedule.is_possible():
            # Accepted, as APScheduler 3 accepts it: the search would only walk to year 9999.
            days = schedule.day_numbers()
            reason = days and impossible_day_reason(days, schedule.months())
            impossible = f"{self} never fires: {reason or 'no date matches all its fields'}"
            next_wall = _no_wall_time
        self._setup(next_wall, wildcard, start_date, end_date, timezone, jitter)
        self._never_fires = impossible or self._never_fires

    @classmethod
    def from_crontab(
        cls,
        expr: str,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
        *,
        start_date: DateArg = None,
        end_date: DateArg = None,
    ) -> CronTrigger:
        """A trigger from a crontab line: 5 fields, 6 with seconds first, or a macro like ``@daily``."""
        schedule = crontab_schedule(expr)
        self = cls.__new__(cls)
        self.expression = schedule.expression
        self.fields = {}
        self._resolved = dict(zip(_CRONTAB_ORDER, schedule.fields))
        self._setup(
            schedule.next_after, schedule.is_wildcard, start_date, end_date, timezone, jitter
        )
        if self._never_fires is not None:  # the crontab form refuses what cannot fire
            raise ValueError(self._never_fires)
        return self

    def _setup(
        self,
        next_wall: NextWall,
        wildcard: bool,
        start_date: DateArg,
        end_date: DateArg,
        timezone: str | tzinfo | None,
        jitter: float | None,
    ) -> None:
        self.timezone = resolve_zone(timezone, start_date, end_date)
        self.start_date = aware(start_date, self.timezone, "start_date")
        self.end_date = aware(end_date, self.timezone, "end_date")
        self._never_fires = bounds_reason(self.start_date, self.end_date)
        self.jitter = check_jitter(jitter)
        self._next_wall = next_wall
        self._wildcard = wildcard
        self._start_utc = None if self.start_date is None else self.start_date.astimezone(UTC)
        self._end_utc = None if self.end_date is None else self.end_date.astimezone(UTC)

    def never_fires(self) -> str | None:
        """Why no instant matches (fields that no date satisfies, end before start), or None."""
        return self._never_fires

    @property
    def is_wildcard(self) -> bool:
        """True when the minute or hour field starts with ``*`` (runs on both passes of a repeated hour)."""
        return self._wildcard

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire_time = self._next_fire_time(previous_fire_time, now)
        if fire_time is None:
            return None
        if self.jitter:
            fire_time = self._apply_jitter(fire_time, self.jitter) or fire_time
            if self._end_utc is not None:
                fire_time = min(fire_time, self._end_utc)
        return _local(fire_time, self.timezone)

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The unjittered next fire time, in UTC."""
        if previous_fire_time is not None:
            return self._first_after(utc_instant(previous_fire_time, "previous_fire_time"))
        return self._first_after(utc_instant(now, "now"))

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The first fire time at or after ``earliest`` (and after ``previous``), without jitter."""
        after = utc_instant(earliest, "earliest") - ONE_MICROSECOND
        if previous is not None:
            after = max(after, utc_instant(previous, "previous"))
        fire_time = self._first_after(after)
        return None if fire_time is None else _local(fire_time, self.timezone)

    def _first_after(self, after: datetime) -> datetime | None:
        if self._start_utc is not None and after < self._start_utc:
            after = self._start_utc - ONE_MICROSECOND
        try:
            fire_time = next_instant(self._next_wall, self.timezone, self._wildcard, after)
        except OverflowError:  # past year 9999: the end of time is the end of the schedule
            return None
        if fire_time is None or self._end_utc is not None and fire_time > self._end_utc:
            return None
        return fire_time

    def describe(self) -> str:
        """The schedule in words (``at 02:30 every day``), or the expression when that is clearer."""
        words = describe_fields(self._resolved, keyword=self.expression is None)
        if words is not None:
            return words
        return f"cron {self.expression!r}" if self.expression is not None else str(self)

    def __str__(self) -> str:
        if self.expression is not None:
            return f"cron[{self.expression}]"
        return "cron[" + ", ".join(f"{name}='{text}'" for name, text in self.fields.items()) + "]"

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "timezone": zone_to_state(self.timezone),
            "start_date": datetime_to_state(self.start_date),
            "end_date": datetime_to_state(self.end_date),
            "jitter": self.jitter,
        }
        if self.expression is not None:
            state["expression"] = self.expression
        else:
            state["fields"] = dict(self.fields)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CronTrigger:
        check_version(state, cls)
        common: dict[str, Any] = {
            "timezone": zone_from_state(state["timezone"]),
            "start_date": state["start_date"],
            "end_date": state["end_date"],
            "jitter": state["jitter"],
        }
        if "expression" in state:
            return cls.from_crontab(state["expression"], **common)
        return cls(**state["fields"], **common)


def _local(fire_time: datetime, zone: tzinfo) -> datetime | None:
    """``fire_time`` in the trigger's zone; None where that is past year 9999."""
    try:
        return fire_time.astimezone(zone)
    except OverflowError:
        return None


def _no_wall_time(wall: datetime) -> datetime | None:
    """The wall-time search of a schedule that no date satisfies."""
    return None
