"""The Python API as APScheduler 3's users call it: naive and ISO datetimes read in the
scheduler's zone, triggers that never fire, zones taken from start_date/end_date, pytz
zones, and how pending jobs are shown. Time comes from the fake clock only."""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedctl.clock import FakeClock
from schedctl.jobfile.loader import parse_jobfile
from schedctl.triggers.cron import CronTrigger
from schedctl.triggers.date import DateTrigger
from schedctl.triggers.interval import IntervalTrigger
from tests import conftest
from tests.conftest import START, TickOnlyScheduler

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NEVER = {"year": 2009, "month": 1, "day": "6-10", "day_of_week": "0,6"}


@pytest.fixture(autouse=True)
def _clear_calls():
    conftest.CALLS.clear()


@pytest.fixture
def berlin_scheduler(fake_clock: FakeClock):
    """A tick-driven scheduler whose zone is not UTC, so a naive time read as UTC shows."""
    scheduler = TickOnlyScheduler(
        clock=fake_clock, timezone="Europe/Berlin", executors={"default": {"type": "debug"}}
    )
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=False)


def berlin_wall(instant: datetime) -> datetime:
    """The naive Berlin wall time of an instant: what ``datetime.now()`` gives in Berlin."""
    return instant.astimezone(BERLIN).replace(tzinfo=None)


# -- naive datetimes and ISO texts at the door ------------------------------------------------


@pytest.mark.parametrize("started", [False, True], ids=["pending", "running"])
def test_the_apscheduler_idiom_now_plus_two_seconds_runs_two_seconds_later(
    berlin_scheduler, fake_clock, started
):
    if started:
        berlin_scheduler.start()
    soon = berlin_wall(fake_clock.now()) + timedelta(seconds=2)
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, next_run_time=soon, id="j")
    berlin_scheduler.start() if not started else None
    assert berlin_scheduler.get_job("j").next_run_time == START + timedelta(seconds=2)
    berlin_scheduler.tick(fake_clock.advance(1))
    assert conftest.CALLS == []
    berlin_scheduler.tick(fake_clock.advance(1))
    assert len(conftest.CALLS) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-01 10:00:00", datetime(2030, 1, 1, 10, tzinfo=BERLIN)),
        ("2030-01-01T10:00", datetime(2030, 1, 1, 10, tzinfo=BERLIN)),
        ("2030-01-01", datetime(2030, 1, 1, tzinfo=BERLIN)),
        ("2030-01-01 10:00:00+00:00", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        ("2030-01-01 10:00:00Z", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        (datetime(2030, 7, 1, 10), datetime(2030, 7, 1, 10, tzinfo=BERLIN)),
        (date(2030, 7, 1), datetime(2030, 7, 1, tzinfo=BERLIN)),
        (datetime(2030, 7, 1, 10, tzinfo=NEW_YORK), datetime(2030, 7, 1, 10, tzinfo=NEW_YORK)),
    ],
    ids=["iso-space", "iso-t", "iso-date", "iso-offset", "iso-z", "naive", "date", "aware"],
)
def test_next_run_time_takes_iso_texts_and_naive_values_in_the_scheduler_zone(
    berlin_scheduler, value, expected
):
    job = berlin_scheduler.add_job(conftest.record, "interval", hours=1, next_run_time=value)
    assert job.next_run_time == expected
    berlin_scheduler.start()
    assert berlin_scheduler.get_job(job.id).next_run_time == expected


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (5, TypeError, ["next_run_time", "int"]),
        (1.5, TypeError, ["next_run_time", "float"]),
        ("tomorrow", ValueError, ["next_run_time", "'tomorrow'"]),
        ("2030-02-30 10:00", ValueError, ["next_run_time", "'2030-02-30 10:00'"]),
    ],
    ids=["int", "float", "words", "no-such-day"],
)
def test_a_next_run_time_that_is_no_time_is_refused_naming_the_argument(
    berlin_scheduler, value, error, words
):
    for started in (False, True):
        if started:
            berlin_scheduler.start()
        with pytest.raises(error) as info:
            berlin_scheduler.add_job(conftest.record, "interval", hours=1, next_run_time=value)
        assert all(word in str(info.value) for word in words), info.value
    job = berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="j")
    with pytest.raises(error, match="next_run_time"):
        berlin_scheduler.modify_job("j", next_run_time=value)
    assert berlin_scheduler.get_job("j").next_run_time == job.next_run_time


def test_modify_job_and_job_modify_read_naive_times_in_the_scheduler_zone(berlin_scheduler):
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="j")
    berlin_scheduler.start()
    berlin_scheduler.modify_job("j", next_run_time=datetime(2026, 7, 1, 9))
    assert berlin_scheduler.get_job("j").next_run_time == datetime(2026, 7, 1, 9, tzinfo=BERLIN)
    berlin_scheduler.get_job("j").modify(next_run_time="2026-12-24 18:00:00")
    assert berlin_scheduler.get_job("j").next_run_time == datetime(2026, 12, 24, 18, tzinfo=BERLIN)


def test_reschedule_job_and_trigger_dates_read_naive_times_in_the_scheduler_zone(
    berlin_scheduler, fake_clock
):
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="j")
    berlin_scheduler.start()
    berlin_scheduler.reschedule_job("j", trigger="date", run_date=datetime(2026, 7, 1, 9))
    assert berlin_scheduler.get_job("j").next_run_time == datetime(2026, 7, 1, 9, tzinfo=BERLIN)
    berlin_scheduler.reschedule_job(
        "j", trigger="interval", hours=1, start_date=datetime(2026, 7, 1, 9),
        end_date="2026-07-01 12:00:00",
    )
    job = berlin_scheduler.get_job("j")
    assert job.next_run_time == datetime(2026, 7, 1, 9, tzinfo=BERLIN)
    assert job.trigger.end_date == datetime(2026, 7, 1, 12, tzinfo=BERLIN)
    added = berlin_scheduler.add_job(conftest.record, "date", run_date="2026-07-01 09:30:00")
    assert added.next_run_time == datetime(2026, 7, 1, 9, 30, tzinfo=BERLIN)


# -- triggers that can never fire ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: CronTrigger(**NEVER),
        lambda: CronTrigger(month=2, day=30, timezone=BERLIN),
        lambda: IntervalTrigger(minutes=5, start_date="2026-04-01", end_date="2026-03-01"),
        # 11:00 in Berlin is 09:00 UTC: before the 10:00 UTC start once both are in one zone.
        lambda: CronTrigger(hour="*", start_date=datetime(2026, 4, 1, 10, tzinfo=UTC),
                            end_date=datetime(2026, 4, 1, 11, tzinfo=BERLIN)),
    ],
    ids=["no-weekday-matches", "february-30", "end-before-start", "end-before-start-in-utc"],
)
@pytest.mark.parametrize("started", [False, True], ids=["pending", "running"])
def test_add_job_keeps_a_job_whose_trigger_never_fires_without_a_next_run_time(
    berlin_scheduler, fake_clock, make, started
):
    if started:
        berlin_scheduler.start()
    trigger = make()
    assert trigger.never_fires() is not None
    assert trigger.get_next_fire_time(None, fake_clock.now()) is None
    berlin_scheduler.add_job(conftest.record, trigger, id="never")
    berlin_scheduler.start() if not started else None
    job = berlin_scheduler.get_job("never")
    assert job is not None and job.next_run_time is None
    assert str(job).endswith(", paused)")
    assert berlin_scheduler.tick(fake_clock.advance(timedelta(days=400))) is None
    assert conftest.CALLS == []


def test_the_crontab_form_and_the_jobfile_still_refuse_a_schedule_that_never_fires():
    with pytest.raises(ValueError, match="never fires: February has no 30th"):
        CronTrigger.from_crontab("0 0 30 2 *")
    text = textwrap.dedent("""\
        jobs:
          backup:
            command: x
            cron: {year: 2009, month: 1, day: 6-10, day_of_week: '0,6'}
    """)
    with pytest.raises(Exception, match="jobs.backup.cron: .*never fires"):
        parse_jobfile(text, "jobs.yaml")


# -- the trigger's zone from start_date / end_date ----------------------------------------------


def test_a_cron_trigger_takes_its_zone_from_an_aware_start_date():
    start = datetime(2014, 4, 13, 5, 30, tzinfo=BERLIN)
    trigger = CronTrigger(hour=4, start_date=start)
    assert trigger.timezone == BERLIN
    assert trigger.get_next_fire_time(None, start) == datetime(2014, 4, 14, 4, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("make", "zone"),
    [
        (lambda: CronTrigger(hour=4, end_date=datetime(2030, 1, 1, tzinfo=NEW_YORK)), NEW_YORK),
        (lambda: CronTrigger(hour=4, start_date=datetime(2020, 1, 1, tzinfo=BERLIN),
                             end_date=datetime(2030, 1, 1, tzinfo=NEW_YORK)), BERLIN),
        (lambda: CronTrigger(hour=4, start_date=datetime(2020, 1, 1, tzinfo=BERLIN),
                             timezone="America/New_York"), NEW_YORK),
        (lambda: CronTrigger(hour=4, start_date=datetime(2020, 1, 1, tzinfo=UTC),
                             end_date=datetime(2030, 1, 1, tzinfo=NEW_YORK)), UTC),
        (lambda: CronTrigger.from_crontab("0 4 * * *", start_date=datetime(2020, 1, 1,
                                                                           tzinfo=BERLIN)), BERLIN),
        (lambda: IntervalTrigger(hours=1, start_date=datetime(2020, 1, 1, tzinfo=BERLIN)), BERLIN),
        (lambda: IntervalTrigger(hours=1, end_date=datetime(2030, 1, 1, tzinfo=NEW_YORK)),
         NEW_YORK),
        (lambda: DateTrigger(datetime(2030, 1, 1, 9, tzinfo=NEW_YORK)), NEW_YORK),
        (lambda: CronTrigger(hour=4, start_date=datetime(2020, 1, 1, tzinfo=timezone(
            timedelta(hours=2)))), timezone(timedelta(hours=2))),
    ],
    ids=["cron-end", "start-before-end", "explicit-wins", "utc-start", "crontab-start", "interval-start",
         "interval-end", "date-run-date", "fixed-offset"],
)
def test_a_trigger_takes_its_zone_from_start_date_then_end_date(make, zone):
    trigger = make()
    assert trigger.timezone == zone
    restored = type(trigger).from_state(trigger.to_state())
    assert restored.timezone == zone


def test_the_scheduler_zone_wins_for_a_trigger_built_by_alias(berlin_scheduler):
    job = berlin_scheduler.add_job(
        conftest.record, "cron", hour=4, start_date=datetime(2026, 1, 1, tzinfo=NEW_YORK)
    )
    assert job.trigger.timezone == BERLIN


def test_the_jobfile_zone_is_not_taken_from_an_aware_start_date():
    text = textwrap.dedent("""\
        timezone: Asia/Tokyo
        jobs:
          backup:
            command: x
            cron: '0 9 * * *'
            start_date: 2026-03-01T00:00:00+01:00
    """)
    trigger = parse_jobfile(text, "jobs.yaml").jobs["backup"].build_trigger()
    assert trigger.timezone == ZoneInfo("Asia/Tokyo")


# -- pytz zones become zoneinfo zones at the door -----------------------------------------------


@pytest.fixture
def pytz() -> Any:
    return pytest.importorskip("pytz")


def test_a_pytz_zone_fires_at_the_wall_time_asked_for(pytz):
    trigger = CronTrigger(hour=9, timezone=pytz.timezone("Europe/Berlin"))
    assert trigger.timezone == BERLIN
    got = trigger.get_next_fire_time(None, datetime(2026, 1, 5, tzinfo=UTC))
    assert (got.hour, got.minute, got.utcoffset()) == (9, 0, timedelta(hours=1))
    assert trigger.to_state()["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("zone", "twin"),
    [
        ("utc", UTC),
        ("timezone('Europe/Berlin')", BERLIN),
        ("timezone('America/New_York')", NEW_YORK),
        ("FixedOffset(120)", timezone(timedelta(hours=2))),
    ],
    ids=["utc", "berlin", "new-york", "fixed-offset"],
)
def test_every_door_turns_a_pytz_zone_into_its_zoneinfo_twin(pytz, fake_clock, zone, twin):
    tz = eval("pytz." + zone, {"pytz": pytz})
    scheduler = TickOnlyScheduler(clock=fake_clock, timezone=tz)
    assert scheduler.timezone == twin
    for trigger in (CronTrigger(hour=9, timezone=tz), IntervalTrigger(hours=1, timezone=tz),
                    DateTrigger("2030-01-01 09:00:00", timezone=tz)):
        assert trigger.timezone == twin and type(trigger.timezone) is type(twin)
    assert scheduler.add_job(conftest.record, "cron", hour=9).trigger.timezone == twin


def test_pytz_aware_datetimes_keep_the_wall_time_meant(pytz):
    zone = pytz.timezone("Europe/Berlin")
    localized = zone.localize(datetime(2026, 1, 5, 9))
    attached = datetime(2026, 1, 5, 9, tzinfo=zone)  # pytz's first offset: local mean time
    assert attached.utcoffset() != timedelta(hours=1)
    for value in (localized, attached):
        trigger = CronTrigger(hour=9, start_date=value)
        assert trigger.timezone == BERLIN
        assert trigger.start_date == datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    # In the repeated hour, localize(is_dst=False) means the second pass: kept.
    second = zone.localize(datetime(2026, 10, 25, 2, 30), is_dst=False)
    trigger = DateTrigger(second)
    assert trigger.run_date.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert trigger.timezone == BERLIN


def test_a_pytz_aware_next_run_time_is_the_instant_meant(pytz, berlin_scheduler):
    value = pytz.timezone("America/New_York").localize(datetime(2030, 7, 1, 9))
    job = berlin_scheduler.add_job(conftest.record, "interval", hours=1, next_run_time=value)
    assert job.next_run_time == datetime(2030, 7, 1, 9, tzinfo=NEW_YORK)


# -- jobs added before start() are pending --------------------------------------------------------


def test_jobs_added_before_start_are_shown_as_pending(berlin_scheduler):
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="a", name="a")
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="b", name="b",
                             next_run_time=None)
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="c", name="c",
                             next_run_time="2030-01-01 10:00:00")
    assert str(berlin_scheduler.get_job("a")) == "a (trigger: interval[1:00:00], pending)"
    assert str(berlin_scheduler.get_job("b")) == "b (trigger: interval[1:00:00], paused)"
    out = io.StringIO()
    berlin_scheduler.print_jobs(out=out)
    assert out.getvalue().splitlines() == [
        "Pending jobs:",
        "    a (trigger: interval[1:00:00], pending)",
        "    b (trigger: interval[1:00:00], paused)",
        "    c (trigger: interval[1:00:00], next run at: 2030-01-01 10:00:00 CET)",
    ]
    berlin_scheduler.start()
    assert str(berlin_scheduler.get_job("a")) == (
        "a (trigger: interval[1:00:00], next run at: 2026-03-02 14:00:00 CET)"
    )
    assert "pending" not in str(berlin_scheduler.get_job("b"))


def test_a_pending_job_given_a_next_run_time_keeps_it_at_start(berlin_scheduler):
    berlin_scheduler.add_job(conftest.record, "interval", hours=1, id="a")
    berlin_scheduler.modify_job("a", next_run_time="2030-01-01 10:00:00")
    assert "pending" not in str(berlin_scheduler.get_job("a"))
    berlin_scheduler.start()
    assert berlin_scheduler.get_job("a").next_run_time == datetime(2030, 1, 1, 10, tzinfo=BERLIN)
