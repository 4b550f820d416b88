"""Side by side with APScheduler 3.11, where it is installed (the ``bench`` extra): the same
calls give the same answers. Skipped without it; tests/test_api_datetimes.py asserts the
documented behaviour directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedctl.clock import FakeClock
from schedctl.triggers.cron import CronTrigger
from schedctl.triggers.interval import IntervalTrigger
from tests import conftest
from tests.conftest import START, TickOnlyScheduler

aps_cron = pytest.importorskip("apscheduler.triggers.cron")
aps_interval = pytest.importorskip("apscheduler.triggers.interval")
aps_background = pytest.importorskip("apscheduler.schedulers.background")

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2014, 4, 13, 3, 0, tzinfo=UTC)


def fire_times(trigger: Any, count: int = 4) -> list[datetime]:
    times: list[datetime] = []
    current = trigger.get_next_fire_time(None, NOW)
    while current is not None and len(times) < count:
        times.append(current.astimezone(UTC))
        current = trigger.get_next_fire_time(current, current)  # APScheduler wants now to move
    return times


TRIGGERS: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
    ("zone-from-start", "cron", lambda: {"hour": 4, "start_date": datetime(2014, 4, 13, 5, 30,
                                                                          tzinfo=BERLIN)}),
    ("zone-from-end", "cron", lambda: {"hour": 4, "end_date": datetime(2014, 4, 20,
                                                                      tzinfo=BERLIN)}),
    ("never-fires", "cron", lambda: {"year": 2009, "month": 1, "day": "6-10",
                                     "day_of_week": "0,6"}),
    ("end-before-start", "interval", lambda: {"minutes": 5, "start_date": "2014-04-14",
                                              "end_date": "2014-04-13", "timezone": "UTC"}),
    ("interval-zone-from-start", "interval", lambda: {
        "hours": 7, "start_date": datetime(2014, 4, 13, 9, tzinfo=BERLIN)}),
]


@pytest.mark.parametrize(("name", "kind", "args"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_triggers_built_by_hand_fire_when_apschedulers_do(name, kind, args):
    ours = {"cron": CronTrigger, "interval": IntervalTrigger}[kind](**args())
    theirs = {"cron": aps_cron.CronTrigger, "interval": aps_interval.IntervalTrigger}[kind](**args())
    assert str(ours.timezone) == str(theirs.timezone)
    assert fire_times(ours) == fire_times(theirs)


def test_a_pytz_zone_fires_as_apschedulers_does():
    pytz = pytest.importorskip("pytz")
    zone = pytz.timezone("Europe/Berlin")
    assert fire_times(CronTrigger(hour=9, timezone=zone)) == fire_times(
        aps_cron.CronTrigger(hour=9, timezone=zone))


def test_pending_jobs_and_next_run_times_read_as_apschedulers_do():
    theirs = aps_background.BackgroundScheduler(timezone="Europe/Berlin")
    ours = TickOnlyScheduler(clock=FakeClock(START), timezone="Europe/Berlin")
    for scheduler in (theirs, ours):
        scheduler.add_job(conftest.record, "interval", hours=1, id="a")
        scheduler.add_job(conftest.record, "interval", hours=1, id="b", next_run_time=None)
        scheduler.add_job(conftest.record, "interval", hours=1, id="c",
                          next_run_time="2030-01-01 10:00:00")
        scheduler.add_job(conftest.record, "interval", hours=1, id="d",
                          next_run_time=datetime(2030, 7, 1, 9) + timedelta(seconds=2))
    for job_id in "abcd":
        assert str(ours.get_job(job_id)) == str(theirs.get_job(job_id))
    for scheduler in (theirs, ours):
        with pytest.raises(TypeError):
            scheduler.add_job(conftest.record, "interval", hours=1, next_run_time=5)
