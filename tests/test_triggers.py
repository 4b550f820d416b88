"""Triggers beyond the conformance file: text forms, stored state, argument errors, bounds,
DST invariants over whole weeks, and the two cron engines agreeing with each other."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedctl.clock import SystemClock
from schedctl.triggers import _crontab
from schedctl.triggers.base import BaseTrigger, trigger_from_json, trigger_to_json
from schedctl.triggers.calendarinterval import CalendarIntervalTrigger
from schedctl.triggers.combining import AndTrigger, OrTrigger, unjittered
from schedctl.triggers.cron import CronTrigger
from schedctl.triggers.date import DateTrigger
from schedctl.triggers.interval import IntervalTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
Factory = Callable[[], BaseTrigger]


def local(text: str, tz: Any = BERLIN) -> datetime:
    """A wall time in ``tz`` (first pass when repeated)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def crontab(expr: str, tz: Any = BERLIN, **kwargs: Any) -> Factory:
    return lambda: CronTrigger.from_crontab(expr, timezone=tz, **kwargs)


def cron(**kwargs: Any) -> Factory:
    kwargs.setdefault("timezone", BERLIN)
    return lambda: CronTrigger(**kwargs)


def ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [str(case[0]) for case in cases]


# -- str() and describe() ---------------------------------------------------------------------

STR_CASES = [
    ("crontab", crontab("30  2 * *   *"), "cron[30 2 * * *]"),
    ("crontab-macro", crontab("@Daily"), "cron[@Daily]"),
    ("keyword", cron(month="1-3", hour=2, minute=30), "cron[month='1-3', hour='2', minute='30']"),
    ("keyword-names", cron(day_of_week="MON-FRI", hour=8), "cron[day_of_week='mon-fri', hour='8']"),
    ("interval", lambda: IntervalTrigger(seconds=3), "interval[0:00:03]"),
    ("interval-days", lambda: IntervalTrigger(days=1, hours=2), "interval[1 day, 2:00:00]"),
    ("date", lambda: DateTrigger("2026-12-01 09:00:00", timezone=BERLIN),
     "date[2026-12-01 09:00:00 CET]"),
    ("calendarinterval", lambda: CalendarIntervalTrigger(months=1, days=2, hour=4),
     "calendarinterval[1 month, 2 days at 04:00:00]"),
    ("and", lambda: AndTrigger([cron(hour=2)(), IntervalTrigger(minutes=5)]),
     "and[cron[hour='2'], interval[0:05:00]]"),
    ("or", lambda: OrTrigger([crontab("0 3 * * *")(), cron(hour=2)()]),
     "or[cron[0 3 * * *], cron[hour='2']]"),
]


@pytest.mark.parametrize(("name", "factory", "expected"), STR_CASES, ids=ids(STR_CASES))
def test_str(name: str, factory: Factory, expected: str) -> None:
    assert str(factory()) == expected


DESCRIBE_CASES = [
    ("daily", crontab("30 2 * * *"), "at 02:30 every day"),
    ("every-5-minutes", crontab("*/5 * * * *"), "every 5 minutes"),
    ("every-minute", crontab("* * * * *"), "every minute"),
    ("every-minute-6-fields", crontab("0 * * * * *"), "every minute"),
    ("every-second", crontab("* * * * * *"), "every second"),
    ("weekdays", crontab("0 0 * * 1-5"), "at 00:00 on Monday to Friday"),
    ("names", crontab("0 9 * JAN,JUL MON-FRI"), "at 09:00 on Monday to Friday in January and July"),
    ("two-times", crontab("0 0,12 * * *"), "at 00:00 and 12:00 every day"),
    ("seconds", crontab("0 30 9 * * *"), "at 09:30 every day"),
    ("with-seconds", crontab("15 30 9 * * *"), "at 09:30:15 every day"),
    ("every-20-seconds", crontab("*/20 * * * * *"), "every 20 seconds"),
    ("hourly", crontab("@hourly"), "every hour"),
    ("hour-at-minute", crontab("5 * * * *"), "every hour at minute 5"),
    ("every-2-hours", crontab("0 */2 * * *"), "every 2 hours"),
    ("weekly", crontab("@weekly"), "at 00:00 on Sunday"),
    ("sunday-as-7", crontab("0 0 * * 7"), "at 00:00 on Sunday"),
    ("monthly", crontab("@monthly"), "at 00:00 on the 1st of the month"),
    ("yearly", crontab("@yearly"), "at 00:00 on the 1st of January"),
    ("last-day", crontab("0 0 L * *"), "at 00:00 on the last day of the month"),
    ("last-weekday", crontab("0 0 LW * *"), "at 00:00 on the last weekday of the month"),
    ("last-friday", crontab("0 0 * * 5L"), "at 00:00 on the last Friday of the month"),
    ("third-friday", crontab("0 0 * * FRI#3"), "at 00:00 on the third Friday of the month"),
    ("vixie-or", crontab("0 0 1 * MON"), "at 00:00 on the 1st of the month or on Monday"),
    ("unsure-falls-back", crontab("0 0 1-7 * */7"), "cron '0 0 1-7 * */7'"),
    ("kw-daily", cron(hour=2, minute=30), "at 02:30 every day"),
    ("kw-every-5-minutes", cron(minute="*/5"), "every 5 minutes"),
    ("kw-every-minute", cron(minute="*"), "every minute"),
    ("kw-weekdays", cron(day_of_week="mon-fri", hour=0), "at 00:00 on Monday to Friday"),
    ("kw-monday-is-0", cron(day_of_week=0, hour=6), "at 06:00 on Monday"),
    ("kw-months", cron(month="1-3", hour=2, minute=30), "at 02:30 every day in January to March"),
    ("kw-ranks", cron(day="2nd wed,last fri"),
     "at 00:00 on the second Wednesday and last Friday of the month"),
    ("kw-last", cron(day="last"), "at 00:00 on the last day of the month"),
    ("kw-year-falls-back", cron(year=2030), "cron[year='2030']"),
    ("interval", lambda: IntervalTrigger(minutes=5), "every 5 minutes"),
    ("interval-hour", lambda: IntervalTrigger(hours=1), "every hour"),
    ("interval-mixed", lambda: IntervalTrigger(days=1, hours=2, minutes=5),
     "every 1 day, 2 hours and 5 minutes"),
    ("interval-fraction", lambda: IntervalTrigger(seconds=0.5), "every 0.5 seconds"),
    ("date", lambda: DateTrigger("2026-12-01 09:00:00", timezone=BERLIN),
     "once at 2026-12-01 09:00 CET"),
    ("calendarinterval", lambda: CalendarIntervalTrigger(months=1, hour=4), "every month at 04:00"),
    ("calendarinterval-mixed", lambda: CalendarIntervalTrigger(months=1, days=2, hour=4),
     "every 1 month and 2 days at 04:00"),
    ("and", lambda: AndTrigger([cron(hour=2)(), cron(day_of_week="sun")()]),
     "all of (at 02:00 every day; at 00:00 on Sunday)"),
    ("or", lambda: OrTrigger([cron(hour=2)(), IntervalTrigger(hours=6)]),
     "any of (at 02:00 every day; every 6 hours)"),
]


@pytest.mark.parametrize(("name", "factory", "expected"), DESCRIBE_CASES, ids=ids(DESCRIBE_CASES))
def test_describe(name: str, factory: Factory, expected: str) -> None:
    assert factory().describe() == expected


# -- stored state -----------------------------------------------------------------------------

ROUND_TRIP_CASES = [
    ("crontab", crontab("0 0 * * SAT-SUN", jitter=3, start_date="2024-01-01")),
    ("crontab-macro", crontab("@weekly", NEW_YORK)),
    ("keyword", cron(day="3rd fri", hour="8-10", end_date="2030-01-01 12:00:00", jitter=2.5)),
    ("keyword-all-star", cron()),
    ("fixed-offset-zone", cron(hour=1, timezone=timezone(timedelta(hours=2)))),
    ("interval", lambda: IntervalTrigger(minutes=90, start_date="2024-10-27 02:30:00",
                                         timezone=BERLIN, jitter=1)),
    ("interval-unanchored", lambda: IntervalTrigger(seconds=0.25, timezone=UTC)),
    ("date", lambda: DateTrigger("2024-10-27 02:30:00", timezone=BERLIN)),
    ("calendarinterval", lambda: CalendarIntervalTrigger(
        years=1, months=2, hour=3, start_date="2024-01-31", end_date="2030-01-01",
        timezone=NEW_YORK, jitter=4)),
    ("and-nested-or", lambda: AndTrigger([
        cron(minute="*/10")(),
        OrTrigger([crontab("0 * * * *")(), IntervalTrigger(hours=1, start_date="2024-01-01",
                                                            timezone=BERLIN)], jitter=1),
    ], jitter=2)),
]


@pytest.mark.parametrize(("name", "factory"), ROUND_TRIP_CASES, ids=ids(ROUND_TRIP_CASES))
def test_state_round_trip(name: str, factory: Factory) -> None:
    trigger = factory()
    stored = json.loads(json.dumps(trigger_to_json(trigger)))
    assert stored["version"] == 1 and stored["type"] == trigger.alias
    rebuilt = trigger_from_json(stored)
    assert type(rebuilt) is type(trigger)
    assert rebuilt == trigger and hash(rebuilt) == hash(trigger)
    assert str(rebuilt) == str(trigger)
    now = datetime(2024, 3, 5, 10, 7, tzinfo=UTC)
    assert _unjittered(rebuilt, now) == _unjittered(trigger, now)


def _unjittered(trigger: BaseTrigger, now: datetime) -> datetime | None:
    return unjittered(trigger, None, now)


@pytest.mark.parametrize(("name", "factory"), ROUND_TRIP_CASES, ids=ids(ROUND_TRIP_CASES))
def test_unknown_state_version_is_refused(name: str, factory: Factory) -> None:
    trigger = factory()
    state = {**trigger.to_state(), "version": 2}
    with pytest.raises(ValueError, match="version 2"):
        type(trigger).from_state(state)


BAD_INTERVAL_STATES = [
    ("seconds-text", {"seconds": "5"}, TypeError, "must be a number"),
    ("seconds-negative", {"seconds": -1}, ValueError, "must not be negative"),
    ("seconds-bool", {"seconds": True}, TypeError, "must be a number"),
    ("start-not-a-date", {"start_date": "yesterday"}, ValueError, "start_date: 'yesterday'"),
    ("end-a-number", {"end_date": 5}, TypeError, "end_date: expected a datetime"),
    ("jitter-negative", {"jitter": -2}, ValueError, "jitter: must not be negative"),
    ("zone-unknown", {"timezone": "Mars/Olympus"}, ValueError, "unknown timezone"),
]


@pytest.mark.parametrize(("name", "change", "error", "message"), BAD_INTERVAL_STATES,
                         ids=ids(BAD_INTERVAL_STATES))
def test_a_corrupt_stored_interval_is_refused_as_the_constructor_refuses_it(
    name: str, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    state = {**IntervalTrigger(minutes=5, start_date="2024-06-01", timezone=BERLIN).to_state(),
             **change}
    with pytest.raises(error, match=message):
        IntervalTrigger.from_state(state)


def test_stored_interval_forms_the_store_never_writes_still_load() -> None:
    """A naive date (written by hand) is read in the trigger's zone, as the constructor does;
    a jittered grid's pin survives the round trip."""
    state = {**IntervalTrigger(minutes=5, timezone=BERLIN).to_state(),
             "start_date": "2024-06-01 10:00:00"}
    assert IntervalTrigger.from_state(state).start_date == local("2024-06-01 10:00:00")
    pinned = IntervalTrigger(seconds=10, jitter=1, timezone=UTC)
    pinned.get_next_fire_time(None, datetime(2024, 6, 1, tzinfo=UTC))
    assert IntervalTrigger.from_state(pinned.to_state()).to_state() == pinned.to_state()


def test_timezone_is_stored_by_name() -> None:
    state = CronTrigger(hour=2, timezone="America/New_York").to_state()
    assert state["timezone"] == "America/New_York"
    assert state["fields"] == {"hour": "2"}


def test_different_triggers_are_not_equal() -> None:
    assert CronTrigger(hour=2, timezone=BERLIN) != CronTrigger(hour=3, timezone=BERLIN)
    assert CronTrigger(hour=2, timezone=BERLIN) != CronTrigger(hour=2, timezone=NEW_YORK)
    assert CronTrigger(hour=2, timezone=BERLIN) == CronTrigger(hour="2", timezone="Europe/Berlin")


# -- bad arguments ----------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("kw-range", cron(minute=61), ValueError, "minute: '61' is out of range 0-59"),
    ("kw-range-in-list", cron(hour="1,25"), ValueError, "hour: '1,25' is out of range 0-23"),
    ("kw-step", cron(minute="*/0"), ValueError, "minute: '\\*/0': the step must be at least 1"),
    ("kw-wrap", cron(day_of_week="fri-mon"), ValueError, "day_of_week: 'fri-mon' is a reversed"),
    ("kw-weekday-7", cron(day_of_week=7), ValueError, "day_of_week: '7' is out of range 0-6"),
    ("kw-6th", cron(day="6th mon"), ValueError, "day: '6th mon'"),
    ("kw-name", cron(month="foo"), ValueError, "month: 'foo' is not a valid expression"),
    ("kw-empty", cron(hour=""), ValueError, "hour: '' is empty"),
    ("kw-week", cron(week=54), ValueError, "week: '54' is out of range 1-53"),
    ("kw-year", cron(year=1969), ValueError, "year: '1969' is out of range 1970-9999"),
    ("kw-float", cron(hour=1.5), TypeError, "hour: expected an int or a string, got 1.5"),
    ("kw-unknown", lambda: CronTrigger(minutes=5), TypeError, "minutes"),  # type: ignore[call-arg]
    ("kw-zone", cron(hour=2, timezone="Mars/Olympus"), ValueError,
     "timezone: unknown timezone 'Mars/Olympus'"),
    ("kw-jitter", cron(hour=2, jitter=-1), ValueError, "jitter: must not be negative"),
    ("tab-bounds", crontab("0 2 * * *", start_date="2024-02-01", end_date="2024-01-01"),
     ValueError, "end_date \\(2024-01-01 00:00:00 CET\\) is before start_date"),
    ("tab-impossible", crontab("0 0 30 2 *"), ValueError,
     "'0 0 30 2 \\*' never fires: February has no 30th"),
    ("tab-impossible-months", crontab("0 0 31 2,4,6,9,11 *"), ValueError, "never fires"),
    ("tab-impossible-and", crontab("0 0 LW * */7"), ValueError, "never fires"),
    ("tab-impossible-nth", crontab("0 0 */10 2 MON#5"), ValueError, "never fires"),
    ("tab-range", crontab("60 * * * *"), ValueError, "minute 60 is out of range 0-59"),
    ("tab-fields", crontab("* * * *"), ValueError, "expected 5 fields .* got 4"),
    ("tab-macro", crontab("@fortnightly"), ValueError,
     r"unknown macro \(known: @reboot, @yearly, .*@hourly\)"),
    ("tab-reboot", crontab("@reboot"), ValueError, "@reboot has no fire times"),
    ("tab-reversed", crontab("5-1 * * * *"), ValueError, "minute range '5-1' is reversed"),
    ("tab-nth", crontab("0 0 * * MON#6"), ValueError, "#6 is out of range 1-5"),
    ("tab-nth-0", crontab("0 0 * * MON#0"), ValueError, "#0 is out of range 1-5"),
    ("tab-w", crontab("0 0 1W * *"), ValueError, "day-of-month '1W' is not a number"),
    ("tab-empty-item", crontab("1,,2 * * * *"), ValueError, "empty list item"),
    ("tab-step", crontab("*/0 * * * *"), ValueError, "the step must be at least 1"),
    ("tab-name", crontab("0 0 * FOO *"), ValueError, "month 'FOO' is not a number or a name"),
    ("tab-question", crontab("0 0 ? * *"), ValueError, "day-of-month '\\?' is not a valid item"),
    ("tab-not-string", lambda: CronTrigger.from_crontab(5), TypeError,  # type: ignore[arg-type]
     "expected a string"),
    ("interval-negative", lambda: IntervalTrigger(seconds=-5), ValueError,
     "interval: must not be negative \\(seconds=-5\\)"),
    ("interval-type", lambda: IntervalTrigger(minutes="5"), TypeError,  # type: ignore[arg-type]
     "interval: minutes must be a number"),
    ("interval-date", lambda: IntervalTrigger(seconds=1, start_date="tomorrow"), ValueError,
     "start_date: 'tomorrow' is not a date/time"),
    ("date-text", lambda: DateTrigger("soon", timezone=BERLIN), ValueError, "run_date: 'soon'"),
    ("calendar-zero", lambda: CalendarIntervalTrigger(), ValueError, "at least 1 day long"),
    ("calendar-hour", lambda: CalendarIntervalTrigger(days=1, hour=24), ValueError,
     "hour: 24 is out of range 0-23"),
    ("calendar-negative", lambda: CalendarIntervalTrigger(days=-1), ValueError,
     "days: -1 is negative"),
    ("calendar-type", lambda: CalendarIntervalTrigger(days=1.5), TypeError,  # type: ignore[arg-type]
     "days: expected a whole number"),
    ("calendar-bounds", lambda: CalendarIntervalTrigger(days=1, start_date="2024-02-01",
                                                        end_date="2024-01-01"),
     ValueError, "end_date \\(2024-01-01\\) is before start_date \\(2024-02-01\\)"),
    ("and-empty", lambda: AndTrigger([]), ValueError, "triggers: must not be empty"),
    ("or-not-a-trigger", lambda: OrTrigger(["cron"]), TypeError,  # type: ignore[list-item]
     "triggers: 'cron' is not a trigger"),
]


@pytest.mark.parametrize(("name", "factory", "error", "message"), BAD_ARGUMENTS,
                         ids=ids(BAD_ARGUMENTS))
def test_bad_arguments(name: str, factory: Factory, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        factory()


# Accepted by the Python API as APScheduler 3 accepts them; the crontab form refuses them above.
NEVER_FIRES = [
    ("kw-impossible", cron(month=2, day=30),
     "cron[month='2', day='30'] never fires: February has no 30th"),
    ("kw-impossible-year", cron(year=2009, month=2, day=29), "never fires"),
    ("kw-impossible-week", cron(month=6, week=1), "never fires"),
    ("kw-impossible-weekday", cron(year=2009, month=1, day="6-10", day_of_week="0,6"),
     "never fires: no date matches all its fields"),
    ("kw-bounds", cron(hour=2, start_date="2024-02-01", end_date="2024-01-01"),
     "end_date (2024-01-01 00:00:00 CET) is before start_date (2024-02-01 00:00:00 CET)"),
    # Before the start as written, but after it once both are read in one zone.
    ("kw-bounds-zones", cron(hour=2, start_date=datetime(2024, 1, 1, 10, tzinfo=UTC),
                             end_date="2024-01-01 10:30:00"), "is before start_date"),
    ("interval-bounds", lambda: IntervalTrigger(seconds=1, start_date="2024-01-02",
                                                end_date="2024-01-01", timezone=BERLIN),
     "end_date (2024-01-01 00:00:00 CET) is before start_date"),
]


@pytest.mark.parametrize(("name", "factory", "message"), NEVER_FIRES, ids=ids(NEVER_FIRES))
def test_a_trigger_that_never_fires_is_accepted_and_has_no_fire_time(
    name: str, factory: Factory, message: str
) -> None:
    trigger = factory()
    reason = trigger.never_fires()
    assert reason is not None and message in reason
    for now in (local("2009-01-01T00:00"), local("2024-01-01T01:00"), local("2026-03-02T12:00")):
        assert trigger.get_next_fire_time(None, now) is None
    assert type(trigger).from_state(trigger.to_state()).never_fires() == reason


def test_a_trigger_that_may_fire_has_no_never_fires_reason() -> None:
    assert cron(hour=2, start_date="2024-01-01", end_date="2024-01-01 02:00:00")().never_fires() is None
    assert IntervalTrigger(seconds=1, timezone=BERLIN).never_fires() is None
    assert crontab("0 2 * * *")().never_fires() is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now: expected a timezone-aware datetime"):
        CronTrigger(hour=2, timezone=BERLIN).get_next_fire_time(None, datetime(2024, 1, 1))


# -- classification ---------------------------------------------------------------------------

WILDCARD_CASES = [
    ("minute-star", crontab("*/15 * * * *"), True),
    ("hour-star", crontab("0 */2 * * *"), True),
    ("fixed", crontab("30 2 * * *"), False),
    ("hourly-macro", crontab("@hourly"), True),
    ("daily-macro", crontab("@daily"), False),
    ("six-fields", crontab("* 30 2 * * *"), False),
    ("six-fields-star", crontab("0 * 2 * * *"), True),
    ("kw-minute", cron(minute=30), True),
    ("kw-hour", cron(hour=2), False),
    ("kw-day", cron(day="*"), False),
    ("kw-hour-step", cron(hour="*/2"), True),
    ("kw-second", cron(second=5), True),
]


@pytest.mark.parametrize(("name", "factory", "wildcard"), WILDCARD_CASES, ids=ids(WILDCARD_CASES))
def test_is_wildcard(name: str, factory: Factory, wildcard: bool) -> None:
    assert factory().is_wildcard is wildcard  # type: ignore[attr-defined]


# -- start_date, end_date, jitter -------------------------------------------------------------

BOUND_CASES = [
    ("cron-start-inclusive", cron(hour=4, start_date="2024-05-02 04:00:00"),
     None, "2024-05-01 00:00:00", "2024-05-02 04:00:00"),
    ("cron-start-later", cron(hour=4, start_date="2024-05-02 04:00:01"),
     None, "2024-05-01 00:00:00", "2024-05-03 04:00:00"),
    ("cron-end-inclusive", cron(hour=4, end_date="2024-05-02 04:00:00"),
     "2024-05-01 04:00:00", "2024-05-01 04:00:00", "2024-05-02 04:00:00"),
    ("cron-end-passed", cron(hour=4, end_date="2024-05-02 03:59:59"),
     "2024-05-01 04:00:00", "2024-05-01 04:00:00", None),
    ("cron-previous-before-now", crontab("0 * * * *"),
     "2024-05-01 04:00:00", "2024-05-01 09:30:00", "2024-05-01 05:00:00"),
    ("interval-start-future", lambda: IntervalTrigger(minutes=5, start_date="2024-05-01 12:00:00",
                                                      timezone=BERLIN),
     None, "2024-05-01 10:00:00", "2024-05-01 12:00:00"),
    ("interval-grid", lambda: IntervalTrigger(minutes=5, start_date="2024-05-01 12:00:00",
                                              timezone=BERLIN),
     None, "2024-05-01 12:07:00", "2024-05-01 12:10:00"),
    ("interval-unanchored", lambda: IntervalTrigger(minutes=5, timezone=BERLIN),
     None, "2024-05-01 12:07:00", "2024-05-01 12:12:00"),
    ("interval-previous", lambda: IntervalTrigger(minutes=5, timezone=BERLIN),
     "2024-05-01 12:01:00", "2024-05-01 13:00:00", "2024-05-01 12:06:00"),
    ("interval-end-inclusive", lambda: IntervalTrigger(
        minutes=5, start_date="2024-05-01 12:00:00", end_date="2024-05-01 12:10:00",
        timezone=BERLIN), "2024-05-01 12:05:00", "2024-05-01 12:05:00", "2024-05-01 12:10:00"),
    ("interval-end-passed", lambda: IntervalTrigger(
        minutes=5, start_date="2024-05-01 12:00:00", end_date="2024-05-01 12:09:59",
        timezone=BERLIN), "2024-05-01 12:05:00", "2024-05-01 12:05:00", None),
    ("date-past", lambda: DateTrigger("2024-01-01 00:00:00", timezone=BERLIN),
     None, "2024-05-01 00:00:00", "2024-01-01 00:00:00"),
    ("date-fired", lambda: DateTrigger("2024-01-01 00:00:00", timezone=BERLIN),
     "2024-01-01 00:00:00", "2024-01-01 00:00:00", None),
    ("calendar-start-past", lambda: CalendarIntervalTrigger(days=1, start_date="2024-01-01",
                                                            timezone=BERLIN),
     None, "2024-05-01 00:00:00", "2024-01-01 00:00:00"),
    ("calendar-unanchored-today", lambda: CalendarIntervalTrigger(days=1, hour=4, timezone=BERLIN),
     None, "2024-05-01 03:00:00", "2024-05-01 04:00:00"),
    ("calendar-unanchored-tomorrow", lambda: CalendarIntervalTrigger(days=1, hour=4,
                                                                     timezone=BERLIN),
     None, "2024-05-01 04:00:00", "2024-05-02 04:00:00"),
    ("calendar-month-end", lambda: CalendarIntervalTrigger(months=1, start_date="2024-01-31",
                                                           timezone=BERLIN),
     "2024-01-31 00:00:00", "2024-01-31 00:00:00", "2024-03-31 00:00:00"),
    ("calendar-end-inclusive", lambda: CalendarIntervalTrigger(
        days=1, start_date="2024-05-01", end_date="2024-05-02", timezone=BERLIN),
     "2024-05-01 00:00:00", "2024-05-01 00:00:00", "2024-05-02 00:00:00"),
    ("calendar-gap-skipped", lambda: CalendarIntervalTrigger(
        days=1, hour=2, minute=30, start_date="2024-03-30", timezone=BERLIN),
     "2024-03-30 02:30:00", "2024-03-30 02:30:00", "2024-04-01 02:30:00"),
]


@pytest.mark.parametrize(("name", "factory", "previous", "now", "expected"), BOUND_CASES,
                         ids=ids(BOUND_CASES))
def test_next_fire_time_bounds(name: str, factory: Factory, previous: str | None, now: str,
                               expected: str | None) -> None:
    got = factory().get_next_fire_time(None if previous is None else local(previous), local(now))
    want = None if expected is None else local(expected).astimezone(UTC)
    assert (None if got is None else got.astimezone(UTC)) == want


def test_cron_jitter_is_clamped_to_end_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    trigger = CronTrigger(minute="*", jitter=30, end_date="2024-05-01 12:00:10", timezone=BERLIN)
    got = trigger.get_next_fire_time(None, local("2024-05-01 11:59:30"))
    assert got == local("2024-05-01 12:00:10")


def test_interval_jitter_past_end_date_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    trigger = IntervalTrigger(minutes=5, start_date="2024-05-01 12:00:00",
                              end_date="2024-05-01 12:05:10", jitter=30, timezone=BERLIN)
    assert trigger.get_next_fire_time(None, local("2024-05-01 12:01:00")) is None


def test_jitter_is_added_in_absolute_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A jittered run just before a spring-forward jump lands on a real wall time."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    trigger = CronTrigger.from_crontab("59 1 * * *", timezone=BERLIN, jitter=120)
    got = trigger.get_next_fire_time(None, local("2024-03-31 00:00:00"))
    assert got is not None and got.astimezone(UTC) == datetime(2024, 3, 31, 1, 1, tzinfo=UTC)
    assert got.utcoffset() == timedelta(hours=2)


def test_date_trigger_defaults_to_now() -> None:
    before = SystemClock().now()
    trigger = DateTrigger(timezone=BERLIN)
    assert before <= trigger.run_date <= SystemClock().now()
    assert trigger.run_date.tzinfo is BERLIN


def test_date_in_a_gap_moves_forward() -> None:
    trigger = DateTrigger("2016-03-27 02:30:00", timezone=BERLIN)
    assert trigger.run_date.isoformat() == "2016-03-27T03:30:00+02:00"


def test_public_attributes() -> None:
    trigger = CronTrigger(hour=2, start_date="2024-01-01", end_date="2024-12-31 23:00:00",
                          timezone="America/New_York")
    assert trigger.timezone is NEW_YORK
    assert trigger.start_date == datetime(2024, 1, 1, tzinfo=NEW_YORK)
    assert trigger.end_date is not None and trigger.end_date.tzinfo is NEW_YORK
    assert trigger.fields == {"hour": "2"} and trigger.expression is None
    assert CronTrigger.from_crontab("@daily", timezone=UTC).expression == "@daily"
    calendar_trigger = CalendarIntervalTrigger(days=1, start_date="2024-01-01")
    assert calendar_trigger.start_date == date(2024, 1, 1)


# -- skip_to (the scheduler's backlog hook, also used by AndTrigger) ---------------------------

SKIP_CASES = [
    ("cron", crontab("*/5 * * * *"), "2024-01-01 00:00:00", "2024-06-01 10:02:00",
     "2024-06-01 10:05:00"),
    ("cron-exact", crontab("*/5 * * * *"), None, "2024-06-01 10:05:00", "2024-06-01 10:05:00"),
    ("interval-grid", lambda: IntervalTrigger(minutes=7, timezone=BERLIN),
     "2024-06-01 10:00:00", "2024-06-01 11:00:00", "2024-06-01 11:03:00"),
    ("interval-exact", lambda: IntervalTrigger(minutes=5, timezone=BERLIN),
     "2024-06-01 10:00:00", "2024-06-01 11:00:00", "2024-06-01 11:00:00"),
    ("calendar", lambda: CalendarIntervalTrigger(weeks=1, hour=6, timezone=BERLIN),
     "2024-01-01 06:00:00", "2024-03-01 00:00:00", "2024-03-04 06:00:00"),
    ("or", lambda: OrTrigger([crontab("0 6 * * *")(), crontab("0 18 * * *")()]),
     None, "2024-06-01 10:00:00", "2024-06-01 18:00:00"),
    ("and", lambda: AndTrigger([crontab("0 */6 * * *")(), crontab("0 */4 * * *")()]),
     None, "2024-06-01 13:00:00", "2024-06-02 00:00:00"),
]


@pytest.mark.parametrize(("name", "factory", "previous", "earliest", "expected"), SKIP_CASES,
                         ids=ids(SKIP_CASES))
def test_skip_to(name: str, factory: Factory, previous: str | None, earliest: str,
                 expected: str) -> None:
    trigger = factory()
    start = None if previous is None else local(previous)
    got = trigger.skip_to(start, local(earliest))  # type: ignore[attr-defined]
    assert got.astimezone(UTC) == local(expected).astimezone(UTC)


LATEST_CASES = [
    ("seconds", lambda: IntervalTrigger(seconds=1, timezone=UTC), "2024-06-01 10:00:00",
     "2024-06-01 10:05:00.5"),
    ("minutes-berlin-dst", lambda: IntervalTrigger(minutes=7, timezone=BERLIN),
     "2024-03-30 23:00:00", "2024-03-31 04:00:00"),
    ("odd-microseconds", lambda: IntervalTrigger(seconds=1.000007, timezone=UTC),
     "2024-06-01 10:00:00.000003", "2024-06-01 10:03:00"),
    ("end-date", lambda: IntervalTrigger(seconds=10, end_date="2024-06-01 10:02:05",
                                         timezone=BERLIN), "2024-06-01 10:00:00",
     "2024-06-01 10:09:00"),
    ("now-is-previous", lambda: IntervalTrigger(hours=1, timezone=BERLIN),
     "2024-06-01 10:00:00", "2024-06-01 10:00:00"),
]


@pytest.mark.parametrize(("name", "factory", "previous", "now"), LATEST_CASES,
                         ids=ids(LATEST_CASES))
def test_latest_due_is_where_the_walk_ends(name: str, factory: Factory, previous: str,
                                           now: str) -> None:
    """The scheduler's one-step answer for a coalesced backlog equals walking every slot."""
    trigger = factory()
    start, until = local(previous), local(now)
    walked, following = start, trigger.get_next_fire_time(start, until)
    while following is not None and following <= until:
        walked, following = following, trigger.get_next_fire_time(following, until)
    got = trigger.latest_due(start, until)  # type: ignore[attr-defined]
    assert got == walked and got.tzinfo is trigger.timezone  # type: ignore[attr-defined]


def test_latest_due_leaves_jittered_and_overriding_triggers_to_the_walk() -> None:
    class Doubled(IntervalTrigger):
        alias = ""  # not registered: "interval" stays IntervalTrigger for the other tests

        def get_next_fire_time(self, previous_fire_time, now):  # type: ignore[no-untyped-def]
            return super().get_next_fire_time(previous_fire_time, now)

    start = local("2024-06-01 10:00:00")
    assert IntervalTrigger(seconds=1, jitter=0.5).latest_due(start, start) is None
    assert Doubled(seconds=1).latest_due(start, start + timedelta(hours=1)) is None


# -- combining --------------------------------------------------------------------------------

def test_and_meets_interval_and_cron() -> None:
    trigger = AndTrigger([
        IntervalTrigger(hours=5, start_date="2024-06-01 00:00:00", timezone=BERLIN),
        CronTrigger(hour="*/2", timezone=BERLIN),
    ])
    now = local("2024-06-01 00:30:00")
    first = trigger.get_next_fire_time(None, now)
    assert first == local("2024-06-01 10:00:00")
    assert trigger.get_next_fire_time(first, now) == local("2024-06-01 20:00:00")


def test_and_gives_up_on_children_that_never_meet() -> None:
    trigger = AndTrigger([CronTrigger(minute=0, timezone=BERLIN),
                          CronTrigger(minute=30, timezone=BERLIN)])
    assert trigger.get_next_fire_time(None, local("2024-06-01 00:00:00")) is None


def test_and_ends_when_a_child_ends() -> None:
    trigger = AndTrigger([CronTrigger(hour=3, end_date="2024-06-02", timezone=BERLIN),
                          CronTrigger(minute="*/30", timezone=BERLIN)])
    assert trigger.get_next_fire_time(None, local("2024-06-01 03:00:00")) is None


def test_or_takes_the_earliest_and_ends_with_the_last() -> None:
    trigger = OrTrigger([DateTrigger("2024-06-01 08:00:00", timezone=BERLIN),
                         CronTrigger(hour=6, timezone=BERLIN)])
    assert trigger.get_next_fire_time(None, local("2024-06-01 07:00:00")) == local(
        "2024-06-01 08:00:00")
    assert trigger.get_next_fire_time(local("2024-06-01 08:00:00"), local("2024-06-01 08:00:00")
                                      ) == local("2024-06-02 06:00:00")


# -- DST policy over whole days, and the two engines agreeing ---------------------------------

def walk(trigger: BaseTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time from ``start`` up to ``end``, each fed back as the previous one."""
    times: list[datetime] = []
    fire_time = trigger.get_next_fire_time(None, start)
    while fire_time is not None and fire_time <= end:
        times.append(fire_time.astimezone(UTC))
        fire_time = trigger.get_next_fire_time(fire_time, fire_time)
    return times


DST_WINDOWS = [
    ("new-york-spring", NEW_YORK, "2024-03-08", "2024-03-12"),
    ("new-york-fall", NEW_YORK, "2024-11-01", "2024-11-05"),
    ("lord-howe-spring", LORD_HOWE, "2024-10-04", "2024-10-08"),
    ("lord-howe-fall", LORD_HOWE, "2024-04-05", "2024-04-09"),
]
EQUIVALENT_FORMS = [
    ("30 2 * * *", {"hour": 2, "minute": 30}),
    ("*/15 * * * *", {"minute": "*/15"}),
    ("0 1-3 * * *", {"hour": "1-3"}),
    ("45 1 * * 0", {"day_of_week": "sun", "hour": 1, "minute": 45}),
    ("*/10 1 * * *", {"hour": 1, "minute": "*/10"}),
    ("0 30 2 * * *", {"hour": 2, "minute": 30}),
    ("*/30 * 2 * * *", {"hour": 2, "second": "*/30"}),
]


@pytest.mark.parametrize(("window", "tz", "first", "last"), DST_WINDOWS, ids=ids(DST_WINDOWS))
@pytest.mark.parametrize(("expr", "keywords"), EQUIVALENT_FORMS, ids=[e for e, _ in EQUIVALENT_FORMS])
def test_keyword_and_crontab_forms_agree_across_dst(
    window: str, tz: ZoneInfo, first: str, last: str, expr: str, keywords: dict[str, Any]
) -> None:
    start, end = local(first, tz), local(last, tz)
    from_crontab = walk(CronTrigger.from_crontab(expr, timezone=tz), start, end)
    from_keywords = walk(CronTrigger(timezone=tz, **keywords), start, end)
    assert from_crontab == from_keywords
    assert from_crontab == sorted(set(from_crontab)), "fire times must strictly increase"
    for instant in from_crontab:
        wall = instant.astimezone(tz)
        assert wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None)


@pytest.mark.parametrize(("window", "tz", "first", "last"), DST_WINDOWS, ids=ids(DST_WINDOWS))
def test_fixed_time_job_runs_once_a_day(window: str, tz: ZoneInfo, first: str, last: str) -> None:
    times = walk(CronTrigger.from_crontab("15 2 * * *", timezone=tz),
                 local(first, tz), local(last, tz))
    assert [t.astimezone(tz).date() for t in times] == [
        date.fromisoformat(first) + timedelta(days=n) for n in range(4)
    ]


@pytest.mark.parametrize(("window", "tz", "first", "last"), DST_WINDOWS, ids=ids(DST_WINDOWS))
def test_wildcard_job_runs_at_every_existing_wall_time(
    window: str, tz: ZoneInfo, first: str, last: str
) -> None:
    start, end = local(first, tz), local(last, tz)
    times = walk(CronTrigger.from_crontab("*/15 * * * *", timezone=tz), start, end)
    expected, instant = [], start.astimezone(UTC)
    while instant <= end:  # every real quarter hour, on both passes of a repeated one
        if instant.astimezone(tz).minute % 15 == 0 and instant > start:
            expected.append(instant)
        instant += timedelta(minutes=15)
    assert times == expected


def test_sparse_schedule_is_fast_enough() -> None:
    trigger = CronTrigger.from_crontab("0 0 * 2 MON#5", timezone=UTC)
    after = datetime(2072, 2, 29, tzinfo=UTC)
    assert trigger.get_next_fire_time(after, after) == datetime(2112, 2, 29, tzinfo=UTC)
    keyword = CronTrigger(month=2, day="5th mon", timezone=UTC)
    assert keyword.get_next_fire_time(after, after) == datetime(2112, 2, 29, tzinfo=UTC)


def test_no_fire_time_after_year_9999() -> None:
    after = datetime(9999, 12, 31, 12, tzinfo=UTC)
    assert CronTrigger(hour=6, timezone=UTC).get_next_fire_time(None, after) is None
    assert CronTrigger.from_crontab("0 6 * * *", timezone=UTC).get_next_fire_time(None, after) is None
    assert CalendarIntervalTrigger(days=1, timezone=UTC).get_next_fire_time(after, after) is None


@pytest.mark.parametrize("expr", ["*/7 * * * *", "0 9-17/4 * * 1-5", "0 0 L * *", "15 10 * * 5L",
                                  "0 0 1 * FRI#1", "*/20 * * * * *", "0 0 29 2 *"])
def test_reused_cronsim_state_matches_a_fresh_cronsim(expr: str) -> None:
    fast = _crontab.CrontabSchedule(expr)
    slow = _crontab.CrontabSchedule(expr)
    slow._fast = False
    rng = random.Random(expr)
    for _ in range(50):
        wall = datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(4 * 365 * 86400),
                                                microseconds=rng.randrange(10**6))
        assert fast.next_after(wall) == slow.next_after(wall)


def test_crontab_schedules_are_parsed_once_and_shared() -> None:
    from schedctl.triggers._crontab import crontab_schedule

    first = CronTrigger.from_crontab("7 3 * * *", timezone="UTC")
    again = CronTrigger.from_state(first.to_state())
    assert crontab_schedule("7  3 * * *") is crontab_schedule("7 3 * * *")  # before spacing
    assert again.get_next_fire_time(None, datetime(2030, 1, 1, tzinfo=UTC)) == datetime(
        2030, 1, 1, 3, 7, tzinfo=UTC
    )
    for _ in range(2):  # a refusal is not remembered as a schedule
        with pytest.raises(ValueError, match="out of range"):
            crontab_schedule("61 * * * *")
    with pytest.raises(TypeError):
        crontab_schedule(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("amounts", [
    {"hours": 1},
    {"weeks": 2, "days": 3, "hours": 4, "minutes": 5, "seconds": 6},
    {"seconds": 0},
    {"minutes": 90},
    {"days": 999_999_999},
    {"hours": 1, "seconds": 0.5},
], ids=["hour", "every-unit", "zero", "carry", "largest-day", "fraction"])
def test_interval_amounts_add_up_as_timedelta_adds_them(amounts: dict[str, Any]) -> None:
    expected = timedelta(**amounts) or timedelta(seconds=1)
    assert IntervalTrigger(**amounts, timezone=UTC).interval == expected


def test_interval_past_the_largest_timedelta_is_refused() -> None:
    with pytest.raises(OverflowError):
        IntervalTrigger(days=1_000_000_000, timezone=UTC)
