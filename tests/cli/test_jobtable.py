"""``schedctl list``'s table piped (the plain renderer) and on a wide terminal (the general
one, styled cells, fitted) write the very same text for the same jobs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from schedctl.cli.jobtable import jobs_table
from schedctl.state.history import RunRecord
from schedctl.state.views import JobView

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def view(job_id: str, *, schedule: str = "every hour", written: str = "interval[1h]",
         next_in: timedelta | None = timedelta(minutes=5), state: str = "scheduled",
         last: str | None = None, recent: tuple[str, ...] = (), node: str | None = None,
         timezone: str = "UTC") -> JobView:
    record = None if last is None else RunRecord(
        run_id=1, job_id=job_id, scheduled_for=NOW - timedelta(hours=1), attempt=1, state=last,
        reason="schedule", owner=None, started_at=NOW - timedelta(hours=1),
        finished_at=NOW - timedelta(minutes=59), duration=61.5, exit_code=0 if last == "success"
        else 3, signal=None, error=None, output=None)
    return JobView(id=job_id, description=None, trigger=written, schedule=schedule,
                   timezone=timezone, next_run_time=None if next_in is None else NOW + next_in,
                   state=state, last_run=record, action="true", kind="command", env_names=[],
                   executor="default", node=node, recent=list(recent), written=written)


CASES = {
    "plain": [view("backup"), view("report", schedule="at 06:00", written="cron[0 6 * * *]",
                                   last="success", recent=("success", "failed", "missed"))],
    "paused-overdue-boot": [
        view("held", next_in=None, state="paused"), view("late", next_in=-timedelta(hours=2)),
        view("boot", schedule="at boot", written="at boot", next_in=None, state="at boot")],
    "nodes": [view("a", node="web-1", last="failed"), view("b", last="success")],
    "escapes-and-wide": [view("bad\x1b]52;c;x\x07id"), view("日本語-job", timezone="Asia/Tokyo",
                                                           recent=("running", "replaced"))],
    "same-words": [view("same", schedule="interval[1h]", written="interval[1h]")],
}


@pytest.mark.parametrize("unicode", [True, False], ids=["utf8", "ascii"])
@pytest.mark.parametrize("views", CASES.values(), ids=CASES.keys())
def test_piped_text_is_what_the_fitted_table_writes_on_a_wide_terminal(
        views: list[JobView], unicode: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    encoding = "utf-8" if unicode else "ascii"
    monkeypatch.setenv("LC_ALL", "C.UTF-8" if unicode else "C")
    monkeypatch.delenv("NO_COLOR", raising=False)
    for running in (True, False):
        monkeypatch.delenv("COLUMNS", raising=False)
        piped = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="replace")
        jobs_table(views, NOW, scheduler_running=running, stream=piped)
        monkeypatch.setenv("COLUMNS", "1000")
        fitted = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="replace")
        jobs_table(views, NOW, scheduler_running=running, stream=fitted)
        for stream in (piped, fitted):
            stream.seek(0)
        text = piped.read()
        assert text == fitted.read()
        assert text.count("\n") >= len(views) + 1 and "\x1b" not in text


LOCAL_CASES = {
    "utc": (datetime(2026, 3, 1, 2, 30, 5, tzinfo=UTC), "UTC"),
    "summer-time": (datetime(2026, 7, 1, 23, 59, 59, tzinfo=UTC), "Europe/Paris"),
    "half-hour-offset": (datetime(2026, 1, 2, 0, 0, tzinfo=UTC), "Asia/Kolkata"),
    "year-before-1000": (datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC), "UTC"),
    "machine-zone": (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), None),
}


@pytest.mark.parametrize("when, zone", LOCAL_CASES.values(), ids=LOCAL_CASES.keys())
def test_a_local_time_is_written_as_strftime_writes_it(when: datetime, zone: str | None) -> None:
    from zoneinfo import ZoneInfo

    from schedctl.cli.output import local

    tz = ZoneInfo(zone) if zone else None
    assert local(when, tz) == when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
