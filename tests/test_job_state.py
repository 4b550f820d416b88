"""A job's stored row: the JSON written field by field is the generic encoder's, byte for byte,
and whatever the fast writer does not know goes to the encoder, errors included."""

from __future__ import annotations

import json
import re
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


#: An option given a value the constructor must refuse, as ``modify`` refuses it.
BAD_OPTIONS: dict[str, dict[str, Any]] = {
    "unknown-option": {"colour": "red"},
    "id-not-text": {"id": 5},
    "func-none": {"func": None},
    "func-not-callable": {"func": 42},
    "name-none": {"name": None},
    "name-not-text": {"name": 3},
    "args-text": {"args": "ab"},
    "kwargs-none": {"kwargs": None},
    "trigger-none": {"trigger": None},
    "executor-none": {"executor": None},
    "grace-zero": {"misfire_grace_time": 0},
    "grace-bool": {"misfire_grace_time": True},
    "coalesce-int": {"coalesce": 1},
    "instances-zero": {"max_instances": 0},
    "instances-bool": {"max_instances": True},
    "instances-float": {"max_instances": 2.0},
    "next-run-text": {"next_run_time": "tomorrow"},
    "meta-list": {"meta": [1]},
}


@pytest.mark.parametrize("bad", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_constructor_refuses_what_modify_refuses(bad: dict[str, Any]) -> None:
    """The constructor reads options on its own path (for speed): same errors, same words."""
    good: dict[str, Any] = {"id": "j", "func": "json:dumps", "trigger": interval()}
    with pytest.raises((TypeError, ValueError)) as by_modify:
        Job(None, **good)._modify(**bad)
    with pytest.raises(type(by_modify.value), match=f"^{re.escape(str(by_modify.value))}$"):
        Job(None, **{**good, **bad})


def test_constructor_keeps_given_values_as_modify_does() -> None:
    at = datetime(2030, 1, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    options: dict[str, Any] = {
        "func": "json:dumps", "trigger": interval(), "args": [1], "kwargs": {"a": 1},
        "name": "n", "executor": "x", "misfire_grace_time": 5, "coalesce": False,
        "max_instances": 3, "next_run_time": at, "meta": {"m": 1},
    }
    made = Job(None, id="j", **options)
    changed = Job(None, id="j", func="json:dumps", trigger=options["trigger"])
    changed._modify(**options)
    assert made.to_state() == changed.to_state()
    assert (made.next_run_time, made.pending) == (changed.next_run_time, changed.pending)
    assert made.next_run_time is not None and made.next_run_time.tzinfo is UTC
    assert made.misfire_grace_time == 5.0 and type(made.misfire_grace_time) is float
    unset = Job(None, id="k", func="json:dumps", trigger=interval())
    assert (unset.name, unset.args, unset.kwargs, unset.meta) == ("dumps", (), {}, {})
    assert unset._next_run_unset and unset.next_run_time is None
