"""Schedules that reach the end of year 9999: the end of time is the end of the schedule.

Python's datetime stops at 9999-12-31; a trigger that steps past it (or past it in its
own zone) has no more fire times, rather than raising OverflowError into the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from schedctl.state.views import fire_times
from schedctl.triggers.base import BaseTrigger
from schedctl.triggers.calendarinterval import CalendarIntervalTrigger
from schedctl.triggers.combining import AndTrigger, OrTrigger
from schedctl.triggers.cron import CronTrigger
from schedctl.triggers.date import DateTrigger
from schedctl.triggers.interval import IntervalTrigger

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KIRITIMATI = "Pacific/Kiritimati"  # UTC+14: its last local day ends before UTC's does

CASES: list[tuple[str, Callable[[], BaseTrigger], list[str]]] = [
    ("interval-day", lambda: IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC"),
     ["9999-12-30T00:00:00+00:00", "9999-12-31T00:00:00+00:00"]),
    ("interval-jitter", lambda: IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC",
                                                jitter=5), ["9999-12-30", "9999-12-31"]),
    ("interval-local-zone", lambda: IntervalTrigger(hours=6, start_date="9999-12-31 12:00",
                                                    timezone=KIRITIMATI),
     ["9999-12-31T12:00:00+14:00", "9999-12-31T18:00:00+14:00"]),
    ("interval-unanchored", lambda: IntervalTrigger(weeks=200_000, timezone="UTC"),
     ["5859-", "9692-"]),
    ("date-last-minute", lambda: DateTrigger("9999-12-31 23:59:00", timezone="UTC"),
     ["9999-12-31T23:59:00+00:00"]),
    ("cron-jitter", lambda: CronTrigger(hour="12,23", minute=59, second=55,
                                        start_date="9999-12-31", timezone="UTC", jitter=3),
     ["9999-12-31T12:59:5", "9999-12-31T23:59:5"]),
    ("cron-jitter-past-the-end", lambda: CronTrigger(
        hour=23, minute=59, second=59, start_date="9999-12-31", timezone="UTC", jitter=10**6),
     ["9999-12-31T23:59:59"]),
    ("cron-local-zone", lambda: CronTrigger(hour="22,23", start_date="9999-12-31",
                                            timezone=KIRITIMATI),
     ["9999-12-31T22:00:00+14:00", "9999-12-31T23:00:00+14:00"]),
    ("calendarinterval", lambda: CalendarIntervalTrigger(days=1, start_date="9999-12-30",
                                                         timezone="UTC", jitter=10),
     ["9999-12-30", "9999-12-31"]),
    ("or", lambda: OrTrigger([IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC")],
                             jitter=5), ["9999-12-30", "9999-12-31"]),
    ("and", lambda: AndTrigger([IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC"),
                                CronTrigger(hour=0, timezone="UTC")]),
     ["9999-12-30T00:00:00+00:00", "9999-12-31T00:00:00+00:00"]),
]


@pytest.mark.parametrize(("name", "factory", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_schedule_ends_at_the_end_of_time(name, factory, expected):
    times = fire_times(factory(), NOW, 5)
    assert len(times) == len(expected), times
    for when, start in zip(times, expected):
        assert when.isoformat().startswith(start)


@pytest.mark.parametrize(("name", "factory"), [
    ("interval", lambda: IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC")),
    ("interval-jitter", lambda: IntervalTrigger(days=1, start_date="9999-12-30", timezone="UTC",
                                                jitter=5)),
    ("cron", lambda: CronTrigger(hour=0, start_date="9999-12-30", timezone=KIRITIMATI)),
], ids=["interval", "interval-jitter", "cron"])
def test_skipping_a_backlog_past_the_end_of_time_ends_too(name, factory):
    trigger = factory()
    last = datetime(9999, 12, 31, 0, 0, tzinfo=UTC)
    assert trigger.skip_to(last, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) is None
