"""The scheduler driven by a fake clock: runs, misses, coalescing, overlap, job management."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, timedelta

import pytest

from schedctl.errors import ConflictingIdError, JobLookupError
from schedctl.events import (
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_START,
)
from schedctl.schedulers.planning import MAX_BACKLOG_STEPS
from schedctl.triggers.interval import IntervalTrigger
from tests import conftest
from tests.conftest import START, TickOnlyScheduler

UTC = UTC


@pytest.fixture(autouse=True)
def _clear_calls():
    conftest.CALLS.clear()


def run_for(scheduler, clock, duration: timedelta) -> int:
    """Drive the loop like BlockingScheduler does, with the fake clock; returns the pass count."""
    end = clock.now() + duration
    passes = 0
    while True:
        deadline = scheduler.tick(clock.now())
        passes += 1
        if deadline is None or deadline > end:
            clock.set(end)
            scheduler.tick(end)
            return passes
        clock.set(max(deadline, clock.now()))


def test_interval_job_runs_on_schedule_for_a_week(debug_scheduler, fake_clock):
    debug_scheduler.add_job(conftest.record, "interval", hours=1, start_date=START, id="hourly")
    debug_scheduler.start()
    run_for(debug_scheduler, fake_clock, timedelta(days=7))
    assert len(conftest.CALLS) == 7 * 24 + 1  # both ends included
    assert debug_scheduler.get_job("hourly").next_run_time == START + timedelta(days=7, hours=1)


def test_job_without_trigger_runs_once_now_and_is_removed(debug_scheduler, fake_clock, event_log):
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.record, args=[1], id="once")
    debug_scheduler.tick(fake_clock.now())
    assert conftest.CALLS == [((1,), {})]
    assert debug_scheduler.get_job("once") is None
    assert event_log.codes("once") == [
        EVENT_JOB_ADDED, EVENT_JOB_SUBMITTED, EVENT_JOB_EXECUTED, EVENT_JOB_REMOVED,
    ]


def test_events_carry_run_time_and_return_value(debug_scheduler, fake_clock, event_log):
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.record, "date", run_date=START, id="d")
    debug_scheduler.tick(START)
    (executed,) = event_log.of(EVENT_JOB_EXECUTED)
    assert (executed.job_id, executed.jobstore, executed.scheduled_run_time, executed.retval) == (
        "d", "default", START, "ok",
    )


def test_job_exception_is_logged_with_traceback_and_emitted(debug_scheduler, fake_clock, event_log, caplog):
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.fail, id="bad")
    with caplog.at_level(logging.ERROR, logger="schedctl"):
        debug_scheduler.tick(fake_clock.now())
    (error,) = event_log.of(EVENT_JOB_ERROR)
    assert isinstance(error.exception, RuntimeError)
    assert "boom" in error.traceback and "Traceback" in error.traceback
    record = next(r for r in caplog.records if r.name.startswith("schedctl.executors"))
    assert record.exc_info is not None and "bad" not in record.name


def test_listener_that_raises_does_not_stop_the_scheduler(debug_scheduler, fake_clock, caplog):
    def broken(event):
        raise ValueError("listener bug")

    debug_scheduler.add_listener(broken)
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.record, "interval", seconds=10, start_date=START)
    with caplog.at_level(logging.ERROR, logger="schedctl"):
        run_for(debug_scheduler, fake_clock, timedelta(seconds=30))
    assert len(conftest.CALLS) == 4  # START, +10, +20, +30
    assert any("listener" in r.getMessage().lower() for r in caplog.records)


def test_listeners_hear_the_codes_of_their_masks_as_they_come_and_go(debug_scheduler, fake_clock):
    submitted, removed = [], []
    debug_scheduler.add_listener(submitted.append, EVENT_JOB_SUBMITTED)
    debug_scheduler.add_listener(removed.append, EVENT_JOB_REMOVED)
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.record, "date", run_date=START + timedelta(seconds=1), id="a")
    debug_scheduler.tick(START + timedelta(seconds=1))
    assert [e.job_id for e in submitted] == ["a"] and [e.job_id for e in removed] == ["a"]
    debug_scheduler.remove_listener(submitted.append)
    debug_scheduler.add_job(conftest.record, "date", run_date=START + timedelta(seconds=2), id="b")
    debug_scheduler.tick(START + timedelta(seconds=2))
    assert [e.job_id for e in submitted] == ["a"] and [e.job_id for e in removed] == ["a", "b"]
    assert len(conftest.CALLS) == 2

def test_missed_runs_beyond_grace_are_reported_not_run(debug_scheduler, fake_clock, event_log):
    debug_scheduler.add_job(
        conftest.record, "interval", minutes=10, start_date=START, id="j", misfire_grace_time=60,
    )
    debug_scheduler.start()
    debug_scheduler.tick(START)
    assert len(conftest.CALLS) == 1
    # Down for 95 minutes: fire times +10..+90 are all older than the 60 s grace.
    later = START + timedelta(minutes=95)
    debug_scheduler.tick(later)
    assert len(conftest.CALLS) == 1
    (missed,) = event_log.of(EVENT_JOB_MISSED)
    assert missed.scheduled_run_time == START + timedelta(minutes=10)
    assert missed.missed_runs == 9
    assert debug_scheduler.get_job("j").next_run_time == START + timedelta(minutes=100)


def test_late_run_within_grace_runs_once_when_coalescing(debug_scheduler, fake_clock, event_log):
    debug_scheduler.add_job(
        conftest.record, "interval", seconds=10, start_date=START, id="j", misfire_grace_time=None,
    )
    debug_scheduler.start()
    debug_scheduler.tick(START + timedelta(seconds=35))
    assert len(conftest.CALLS) == 1
    (executed,) = event_log.of(EVENT_JOB_EXECUTED)
    assert executed.scheduled_run_time == START + timedelta(seconds=30)
    assert not event_log.of(EVENT_JOB_MISSED)


def test_late_runs_run_each_without_coalescing(debug_scheduler, fake_clock, event_log):
    debug_scheduler.add_job(
        conftest.record, "interval", seconds=10, start_date=START, id="j",
        misfire_grace_time=None, coalesce=False,
    )
    debug_scheduler.start()
    debug_scheduler.tick(START + timedelta(seconds=35))
    times = [e.scheduled_run_time for e in event_log.of(EVENT_JOB_EXECUTED)]
    assert times == [START + timedelta(seconds=s) for s in (0, 10, 20, 30)]


class CountingIntervalTrigger(IntervalTrigger):
    """Counts how often the scheduler asks for a fire time."""

    alias = "counting-interval"
    calls = 0

    def get_next_fire_time(self, previous_fire_time, now):
        CountingIntervalTrigger.calls += 1
        return super().get_next_fire_time(previous_fire_time, now)


@pytest.mark.parametrize("grace", [60.0, None], ids=["grace-60s", "no-grace"])
def test_a_year_of_backlog_is_skipped_not_enumerated(debug_scheduler, fake_clock, event_log, grace):
    CountingIntervalTrigger.calls = 0
    trigger = CountingIntervalTrigger(seconds=1, start_date=START, timezone="UTC")
    debug_scheduler.add_job(conftest.record, trigger, id="j", misfire_grace_time=grace)
    debug_scheduler.start()
    debug_scheduler.tick(START)
    year_later = START + timedelta(days=365, seconds=0.5)
    debug_scheduler.tick(year_later)
    assert CountingIntervalTrigger.calls < 3 * MAX_BACKLOG_STEPS
    assert len(conftest.CALLS) == 2  # the first run, then one coalesced or in-grace run
    job = debug_scheduler.get_job("j")
    assert year_later < job.next_run_time <= year_later + timedelta(seconds=1)
    if grace is not None:
        (missed,) = event_log.of(EVENT_JOB_MISSED)
        assert missed.missed_runs is None  # too many to count


def test_max_instances_skip_is_reported(fake_clock, event_log, caplog):
    release, started = threading.Event(), threading.Event()

    def block():
        started.set()
        release.wait(10)

    scheduler = TickOnlyScheduler(clock=fake_clock, timezone="UTC")  # real thread pool
    scheduler.add_listener(event_log)
    scheduler.add_job(block, "interval", seconds=1, start_date=START, id="slow", max_instances=1)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING, logger="schedctl"):
            scheduler.tick(START)
            assert started.wait(10)
            scheduler.tick(START + timedelta(seconds=1))
        (skipped,) = event_log.of(EVENT_JOB_MAX_INSTANCES)
        assert skipped.job_id == "slow"
        assert skipped.scheduled_run_times == (START + timedelta(seconds=1),)
        assert any("maximum number of running instances" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        scheduler.shutdown()
    assert len(event_log.of(EVENT_JOB_EXECUTED)) == 1


def test_pause_and_resume_job(debug_scheduler, fake_clock):
    debug_scheduler.add_job(conftest.record, "interval", minutes=1, start_date=START, id="j")
    debug_scheduler.start()
    debug_scheduler.pause_job("j")
    run_for(debug_scheduler, fake_clock, timedelta(minutes=10))
    assert conftest.CALLS == []
    assert debug_scheduler.get_job("j").next_run_time is None
    fake_clock.advance(30)
    debug_scheduler.resume_job("j")
    assert debug_scheduler.get_job("j").next_run_time == START + timedelta(minutes=11)


def test_job_can_remove_and_pause_itself_from_inside(debug_scheduler, fake_clock):
    def remove_self():
        debug_scheduler.remove_job("self-remover")

    debug_scheduler.add_job(remove_self, "interval", seconds=5, start_date=START, id="self-remover")
    debug_scheduler.start()
    debug_scheduler.tick(START)
    assert debug_scheduler.get_job("self-remover") is None
    debug_scheduler.tick(START + timedelta(seconds=5))


def test_job_object_methods_before_and_after_start(debug_scheduler, fake_clock):
    job = debug_scheduler.add_job(conftest.record, "interval", minutes=5, start_date=START, id="j")
    job.pause()
    assert debug_scheduler.get_job("j").next_run_time is None
    job.modify(name="renamed")
    debug_scheduler.start()
    job = debug_scheduler.get_job("j")
    assert (job.name, job.next_run_time) == ("renamed", None)  # paused while pending stays paused
    job.resume()
    assert debug_scheduler.get_job("j").next_run_time == START
    job.pause()
    assert debug_scheduler.get_job("j").next_run_time is None
    job.resume()
    job.reschedule("interval", hours=2)
    assert str(debug_scheduler.get_job("j").trigger) == "interval[2:00:00]"
    job.remove()
    assert debug_scheduler.get_jobs() == []


def test_paused_pending_job_stays_paused_at_start(debug_scheduler):
    debug_scheduler.add_job(conftest.record, "interval", minutes=5, id="p", next_run_time=None)
    debug_scheduler.start()
    assert debug_scheduler.get_job("p").next_run_time is None


def test_scheduled_job_decorator_stacks(debug_scheduler, fake_clock):
    @debug_scheduler.scheduled_job("interval", minutes=1, start_date=START, id="a")
    @debug_scheduler.scheduled_job("cron", minute="*/30", id="b")
    def work():
        pass

    debug_scheduler.start()
    assert sorted(job.id for job in debug_scheduler.get_jobs()) == ["a", "b"]


def test_func_as_reference_text(debug_scheduler, fake_clock):
    debug_scheduler.start()
    job = debug_scheduler.add_job("tests.conftest:record", kwargs={"x": 1})
    assert job.name == "record"
    debug_scheduler.tick(fake_clock.now())
    assert conftest.CALLS == [((), {"x": 1})]


def test_print_jobs_format(debug_scheduler, fake_clock):
    debug_scheduler.add_job(conftest.record, "interval", seconds=3, start_date=START, name="tick3", id="t")
    debug_scheduler.add_job(conftest.record, "interval", seconds=3, name="sleeper", next_run_time=None)
    out = io.StringIO()
    debug_scheduler.print_jobs(out=out)
    assert out.getvalue().startswith("Pending jobs:\n")
    debug_scheduler.start()
    out = io.StringIO()
    debug_scheduler.print_jobs(out=out)
    assert out.getvalue() == (
        "Jobstore default:\n"
        "    tick3 (trigger: interval[0:00:03], next run at: 2026-03-02 12:00:00 UTC)\n"
        "    sleeper (trigger: interval[0:00:03], paused)\n"
    )


def test_repr_of_job(debug_scheduler):
    job = debug_scheduler.add_job(conftest.record, "interval", seconds=3, id="abc", name="nice")
    assert repr(job) == "<Job (id=abc name=nice)>"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda s: s.add_job(conftest.record, "nope"), ValueError, ["'nope'", "trigger"]),
        (lambda s: s.add_job(conftest.record, "cron", minute="61"), ValueError, ["minute", "61"]),
        (lambda s: s.add_job(conftest.record, "interval", seconds=-5), ValueError, ["-5"]),
        (lambda s: s.add_job(conftest.record, "interval", minutes=1, executor="gpu"), ValueError,
         ["executor", "'gpu'"]),
        (lambda s: s.add_job(conftest.record, "interval", minutes=1, jobstore="redis"), ValueError,
         ["jobstore", "'redis'"]),
        (lambda s: s.add_job(conftest.record, "interval", minutes=1, max_instances=0), ValueError,
         ["max_instances", "0"]),
        (lambda s: s.add_job(42), TypeError, ["func", "42"]),
        (lambda s: s.add_job("no_such_module_xyz:f"), LookupError, ["no_such_module_xyz"]),
        (lambda s: s.remove_job("ghost"), JobLookupError, ["'ghost'"]),
        (lambda s: s.pause_job("ghost"), JobLookupError, ["'ghost'"]),
    ],
    ids=["trigger-alias", "cron-field", "negative-interval", "executor-alias",
         "jobstore-alias", "max-instances", "func-type", "func-ref", "remove-unknown", "pause-unknown"],
)
def test_bad_arguments_name_the_argument_and_value(debug_scheduler, call, error, words):
    debug_scheduler.start()
    with pytest.raises(error) as info:
        call(debug_scheduler)
    for word in words:
        assert word in str(info.value)


def test_duplicate_id_conflicts_unless_replacing(debug_scheduler):
    debug_scheduler.add_job(conftest.record, "interval", minutes=1, id="dup")
    with pytest.raises(ConflictingIdError, match="dup"):
        debug_scheduler.add_job(conftest.record, "interval", minutes=1, id="dup")
    debug_scheduler.start()
    with pytest.raises(ConflictingIdError, match="dup"):
        debug_scheduler.add_job(conftest.record, "interval", minutes=1, id="dup")
    debug_scheduler.add_job(conftest.record, "interval", minutes=7, id="dup", replace_existing=True)
    assert str(debug_scheduler.get_job("dup").trigger) == "interval[0:07:00]"


def test_modify_job_emits_event_and_saves(debug_scheduler, event_log):
    debug_scheduler.start()
    debug_scheduler.add_job(conftest.record, "interval", minutes=1, id="m")
    debug_scheduler.modify_job("m", max_instances=3, name="three")
    job = debug_scheduler.get_job("m")
    assert (job.max_instances, job.name) == (3, "three")
    assert EVENT_JOB_MODIFIED in event_log.codes("m")


def test_start_event_and_default_plugins(debug_scheduler, event_log):
    debug_scheduler.start()
    assert EVENT_SCHEDULER_START in event_log.codes()
    assert set(debug_scheduler._jobstores) == {"default"}


def test_run_job_now_leaves_schedule_and_pause_alone(debug_scheduler, fake_clock, event_log):
    debug_scheduler.add_job(conftest.record, "interval", hours=1, start_date=START, id="j")
    debug_scheduler.start()
    debug_scheduler.pause_job("j")
    fake_clock.advance(90)
    debug_scheduler.run_job_now("j")
    debug_scheduler.tick(fake_clock.now())
    (executed,) = event_log.of(EVENT_JOB_EXECUTED)
    assert executed.scheduled_run_time == START + timedelta(seconds=90)
    assert debug_scheduler.get_job("j").next_run_time is None  # still paused


def test_run_job_now_of_unknown_job(debug_scheduler):
    debug_scheduler.start()
    with pytest.raises(JobLookupError, match="'ghost'"):
        debug_scheduler.run_job_now("ghost")


def test_non_coalescing_backlog_runs_at_most_a_bounded_number(debug_scheduler, fake_clock, event_log):
    from schedctl.schedulers.planning import MAX_RUNS_PER_PASS

    debug_scheduler.add_job(
        conftest.record, "interval", seconds=1, start_date=START, id="j",
        misfire_grace_time=None, coalesce=False,
    )
    debug_scheduler.start()
    debug_scheduler.tick(START + timedelta(seconds=500.5))
    assert len(conftest.CALLS) == MAX_RUNS_PER_PASS
    (missed,) = event_log.of(EVENT_JOB_MISSED)
    assert missed.scheduled_run_time == START + timedelta(seconds=MAX_RUNS_PER_PASS)
    assert missed.missed_runs is None
    assert debug_scheduler.get_job("j").next_run_time == START + timedelta(seconds=501)


@pytest.mark.parametrize("grace", [120.0, None], ids=["grace-120s", "no-grace"])
def test_coalesced_backlog_of_an_interval_job_runs_for_its_newest_slot(
    debug_scheduler, fake_clock, event_log, grace
):
    debug_scheduler.add_job(
        conftest.record, "interval", seconds=1, start_date=START, id="j",
        misfire_grace_time=grace,
    )
    debug_scheduler.start()
    debug_scheduler.tick(START + timedelta(seconds=500.5))
    (executed,) = event_log.of(EVENT_JOB_EXECUTED)
    assert executed.scheduled_run_time == START + timedelta(seconds=500)
    assert debug_scheduler.get_job("j").next_run_time == START + timedelta(seconds=501)
