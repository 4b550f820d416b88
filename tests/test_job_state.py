"""A job's stored row: the JSON written field by field is the generic encoder's, byte for byte,
and whatever the fast writer does not know goes to the encoder, errors included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedctl.job import Job
from schedctl.jobstores._sqlrows import encode, written_state
from schedctl.triggers._common import STATE_ENCODER
from schedctl.triggers.cron import CronTrigger
from schedctl.triggers.interval import IntervalTrigger

START = datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


class Renamed(IntervalTrigger):
    alias = "renamed-interval"


def interval(**kwargs: Any) -> IntervalTrigger:
    kwargs.setdefault("timezone", UTC)
    return IntervalTrigger(**kwargs)


def pinned() -> IntervalTrigger:
    trigger = interval(seconds=10, jitter=1.5)
    trigger.get_next_fire_time(None, START)
    return trigger


SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("plain", {"trigger": interval(hours=1, start_date=START)}),
    ("float-seconds-zone", {"trigger": interval(seconds=0.25, timezone=BERLIN,
                                               start_date="2024-10-27 02:30:00")}),
    ("end-and-jitter", {"trigger": interval(minutes=5, end_date=START, jitter=2)}),
    ("fixed-offset", {"trigger": interval(days=1, timezone=timezone(timedelta(hours=-3)))}),
    ("pinned-grid", {"trigger": pinned()}),
    ("subclass-alias", {"trigger": Renamed(seconds=3, timezone=UTC)}),
    ("cron-generic", {"trigger": CronTrigger(hour=2, timezone=BERLIN)}),
    ("data", {"args": [1, "zwölf\udcff", None, 2.5, [True]], "kwargs": {"k": {"n": -0.0}},
              "meta": {"team": "ops", 1: "x"}}),
    ("text-to-escape", {"name": 'quote " and \\ and \n', "id": "ünïcode-\u2028"}),
    ("options", {"misfire_grace_time": 30, "coalesce": False, "max_instances": 7,
                 "executor": "processes"}),
    ("grace-float", {"misfire_grace_time": 0.1}),
]


def make(**options: Any) -> Job:
    options.setdefault("trigger", interval(hours=1, start_date=START))
    options.setdefault("id", "job")
    return Job(None, func="tests.test_job_state:make", next_run_time=START, **options)


@pytest.mark.parametrize(("name", "options"), SHAPES, ids=[name for name, _ in SHAPES])
def test_written_json_is_the_encoders_text(name: str, options: dict[str, Any]) -> None:
    job = make(**options)
    text = encode(job)[2]
    assert text == job.to_json() == STATE_ENCODER.encode(job._state())
    again = Job.from_state(json.loads(text), next_run_time=START, version=1)
    assert again.to_json() == text


def test_the_fast_writer_covers_the_usual_job() -> None:
    """Not a silent fallback: the usual job (an interval, no data) is written directly."""
    assert written_state(make()) == make().to_json()
    assert written_state(make(trigger=CronTrigger(hour=2, timezone=UTC))) is None


CANNOT_STORE = [
    ("nan-in-args", {"args": [float("nan")]}, "Out of range float"),
    ("object-in-kwargs", {"kwargs": {"when": object()}}, "not JSON serializable"),
    ("infinite-grace", {"misfire_grace_time": float("inf")}, "Out of range float"),
    ("nan-jitter", {"trigger": interval(seconds=1, jitter=float("nan"))}, "Out of range float"),
]


@pytest.mark.parametrize(("name", "options", "reason"), CANNOT_STORE,
                         ids=[name for name, _, _ in CANNOT_STORE])
def test_what_cannot_be_stored_is_refused_with_the_encoders_reason(
    name: str, options: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        encode(make(**options))


def test_args_that_contain_themselves_are_refused_clearly() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="'job': args, kwargs and meta must be JSON data"):
        encode(make(args=loop))
