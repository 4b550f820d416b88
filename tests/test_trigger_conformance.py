"""Every case of the shared trigger conformance file (tests/data/triggers.json).

Loading and comparison follow the spec's "How a test should load and compare":
instants are compared in UTC, ``now``/``previous`` are converted into the case's
zone (which sets ``fold`` in a repeated hour), and every result must be a wall
time that exists.
"""

from __future__ import annotations

import datetime as dt
import json
import time as time_module
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedctl.triggers.base import BaseTrigger, trigger_class
from schedctl.triggers.cron import CronTrigger

UTC = dt.UTC
CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "triggers.json").read_text(encoding="utf-8")
)
JITTER_CALLS = 20
TIME_LIMIT = 2.0


def parse(value: str | None, tz: dt.tzinfo) -> dt.datetime | None:
    """Keep the instant, get the right fold."""
    return None if value is None else dt.datetime.fromisoformat(value).astimezone(tz)


def build(spec: dict[str, Any], tz: dt.tzinfo) -> BaseTrigger:
    kind, params = spec.get("trigger") or spec["type"], dict(spec["params"])
    cls: Any = trigger_class(kind)
    if spec.get("constructor") == "from_crontab":
        return CronTrigger.from_crontab(params["expr"], timezone=tz)
    if kind in ("and", "or"):
        children = [build(child, tz) for child in params.pop("triggers")]
        return cls(children, **params)
    return cls(timezone=tz, **params)


def check_exists(got: dt.datetime) -> None:
    assert got.tzinfo is not None and got.utcoffset() is not None
    round_trip = got.astimezone(UTC).astimezone(got.tzinfo)
    assert (round_trip.replace(tzinfo=None), round_trip.utcoffset()) == (
        got.replace(tzinfo=None), got.utcoffset()
    ), f"{got} is not a wall time that exists"


def run_case(case: dict[str, Any]) -> None:
    tz = ZoneInfo(case["timezone"])
    if case.get("expect_error"):
        with pytest.raises(ValueError):
            build(case, tz)
        return
    trigger = build(case, tz)
    previous, now = parse(case["previous_fire_time"], tz), parse(case["now"], tz)
    assert now is not None
    want = parse(case["expected_next"], tz)
    jitter = case.get("jitter_seconds")
    for _ in range(JITTER_CALLS if jitter is not None else 1):
        got = trigger.get_next_fire_time(previous, now)
        if want is None or got is None:
            assert got is None and (want is None or case.get("allow_expected_or_none")), (
                f"want {want}, got {got}"
            )
            continue
        check_exists(got)
        low, got_utc = want.astimezone(UTC), got.astimezone(UTC)
        if jitter is not None:
            assert low <= got_utc <= low + dt.timedelta(seconds=jitter), f"{got} not in jitter window"
        else:
            assert got_utc == low, f"want {want}, got {got}"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_conformance_case(case: dict[str, Any]) -> None:
    started = time_module.perf_counter()
    run_case(case)
    elapsed = time_module.perf_counter() - started
    assert elapsed < TIME_LIMIT, f"case took {elapsed:.2f} s (limit {TIME_LIMIT} s)"


def test_the_copy_is_the_shared_file() -> None:
    """tests/data/triggers.json must stay byte-identical to the shared spec when it is present."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "triggers.json"
    if not shared.exists():
        pytest.skip("shared/conformance is not beside this checkout")
    assert (Path(__file__).parent / "data" / "triggers.json").read_bytes() == shared.read_bytes()
