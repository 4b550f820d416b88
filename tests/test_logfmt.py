"""The text log's time stamps: local time with its offset, the same whether worked out
afresh or taken from the stamps of recent seconds."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schedctl.service.logfmt import log_time

INSTANTS = [datetime(2026, 3, 29, 0, 59, 59, 999999, UTC),  # Paris: the second before CEST
            datetime(2026, 3, 29, 1, 0, 0, 1, UTC),
            datetime(2026, 11, 1, 5, 59, 59, tzinfo=UTC),  # New York: the hour twice
            datetime(2026, 11, 1, 6, 0, 0, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 500000, UTC)]


@pytest.fixture
def local_zone():
    """Set the process's zone with tzset, and put the old one back."""
    before = os.environ.get("TZ")

    def use(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield use
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
def test_stamps_are_local_time_to_the_second(local_zone, zone):
    local_zone(zone)
    for when in INSTANTS:
        expected = when.astimezone().isoformat(sep=" ", timespec="seconds")
        assert log_time(when) == expected
        assert log_time(when) == expected  # again, from the recent stamps
        assert log_time(when.astimezone(timezone(timedelta(hours=5)))) == expected


def test_a_new_zone_shows_at_once(local_zone):
    when = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
    local_zone("Europe/Paris")
    assert log_time(when) == "2026-07-01 14:00:00+02:00"
    local_zone("America/New_York")
    assert log_time(when) == "2026-07-01 08:00:00-04:00"
