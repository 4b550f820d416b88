"""Durations as jobfiles and the CLI write them: ``90s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedctl.jobfile.durations import format_duration, parse_duration

PARSED = [
    ("90s", 90.0),
    ("5m", 300.0),
    ("1h30m", 5400.0),
    ("2d", 172_800.0),
    ("1w", 604_800.0),
    ("500ms", 0.5),
    ("1.5h", 5400.0),
    ("1h 30m", 5400.0),
    (" 5m ", 300.0),
    ("1w2d3h4m5s6ms", 604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5.006),
    ("42", 42.0),
    ("0.25", 0.25),
    ("0", 0.0),
    (42, 42.0),
    (1.5, 1.5),
    (0, 0.0),
]


@pytest.mark.parametrize(("text", "seconds"), PARSED, ids=[repr(t) for t, _ in PARSED])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


REFUSED = [
    ("5 minutes", "'5 minutes' is not a duration (try 5m)"),
    ("3 hrs", "(try 3h)"),
    ("2 days", "(try 2d)"),
    ("5M", "is not a duration (use a number of seconds"),
    ("30m1h", "largest first"),
    ("1m1m", "largest first"),
    ("1h30", "is not a duration"),
    ("", "is not a duration"),
    ("soon", "is not a duration"),
    ("-5m", "'-5m' is negative"),
    (-1, "-1 is negative"),
    (float("nan"), "is not a duration"),
    (float("inf"), "is not a duration"),
    ("9" * 400, "too large"),
    (10**400, "too large"),
]


@pytest.mark.parametrize(("value", "message"), REFUSED, ids=[repr(v)[:20] for v, _ in REFUSED])
def test_parse_duration_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert message in str(caught.value)


@pytest.mark.parametrize("value", [None, True, [5], {"m": 5}], ids=repr)
def test_parse_duration_wrong_type(value: object) -> None:
    with pytest.raises(TypeError, match="expected a duration"):
        parse_duration(value)


FORMATTED = [
    (5400, "1h30m"),
    (0.5, "500ms"),
    (0, "0s"),
    (90, "1m30s"),
    (86_400, "1d"),
    (604_800 + 1.5, "1w1s500ms"),
    (3599.9996, "1h"),
]


@pytest.mark.parametrize(("seconds", "text"), FORMATTED, ids=[t for _, t in FORMATTED])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")], ids=repr)
def test_format_duration_refuses(seconds: float) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        format_duration(seconds)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**10))
def test_format_then_parse_round_trips_milliseconds(milliseconds: int) -> None:
    assert round(parse_duration(format_duration(milliseconds / 1000)) * 1000) == milliseconds
