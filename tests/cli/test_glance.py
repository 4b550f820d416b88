"""History at a glance, through the real executable: ``list`` fits 80 and 200 columns and
shows a strip of the latest outcomes, says when no scheduler runs, and ``history`` sums up
(``--stats``) and filters by time (``--since``/``--until``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from schedctl.state.history import RunHistory, RunOutcome
from tests.cli.helpers import sample_jobfile, seeding

NOW = datetime.now(UTC)

JOBS = sample_jobfile("nightly-database-backup")

#: The outcomes of nightly-database-backup, oldest first, one every 10 minutes up to now.
BACKUP = ["success", "failed", "success", "skipped", "timeout", "success", "success", "missed",
          "failed", "success", "success", "failed"]
#: (outcome, duration) of report, oldest first.
REPORT = [("success", 10.0), ("success", 20.0), ("failed", 30.0), ("success", 40.0),
          ("success", 100.0)]

GLYPHS = {"success": "✔", "failed": "✘", "timeout": "✘", "skipped": "⏭", "missed": "⏭"}
ASCII = {"success": "+", "failed": "x", "timeout": "x", "skipped": ">", "missed": ">"}


def seed(history: RunHistory, job_id: str, at: datetime, state: str, duration: float | None = None,
         **more: Any) -> None:
    if state not in ("missed", "skipped"):
        history.started(job_id, at, at=at, owner="test/1")
        duration = 1.5 if duration is None else duration
    history.finished(job_id, at, RunOutcome(state, at + timedelta(seconds=duration or 0),
                                            duration=duration, **more), owner="test/1")


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """Jobs synced an hour ago (so report's next run is past), and their runs."""
    with seeding(tmp_path, JOBS, NOW - timedelta(minutes=61)) as history:
        for index, state in enumerate(BACKUP):
            at = NOW - timedelta(minutes=10 * (len(BACKUP) - index))
            seed(history, "nightly-database-backup", at, state,
                 exit_code=3 if state == "failed" else None,
                 error="disk full" if state == "failed" else None)
        for index, (state, duration) in enumerate(REPORT):
            seed(history, "report", NOW - timedelta(days=3, hours=len(REPORT) - index), state,
                 duration, exit_code=1 if state == "failed" else 0)
    return tmp_path / "state.db"


def listing(schedctl, cli_env, state: Path, **env: str) -> tuple[str, str]:
    cli_env.pop("COLUMNS", None)
    cli_env.update({"LANG": "C.UTF-8", "LC_ALL": "", **env})
    result = schedctl("list", "--state", state)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def strip_of(out: str, job_id: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith(job_id)]
    return line.split()[-1]


# -- list: widths ---------------------------------------------------------------------------------

def test_list_at_80_columns_keeps_every_cell_whole(schedctl, cli_env, seeded):
    out, _ = listing(schedctl, cli_env, seeded, COLUMNS="80")

    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert lines[0].split() == ["ID", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "RECENT"]
    for job_id in ("nightly-database-backup", "report", "cleanup"):
        assert any(line.startswith(job_id + " ") for line in lines), job_id  # never folded
    # Next runs as 'MM-DD HH:MM UTC', each whole on its line; a paused job says so there.
    assert len(re.findall(r"\b\d\d-\d\d \d\d:\d\d UTC\b", out)) == 2
    assert re.search(r"^cleanup\s.*\bpaused\b", out, re.MULTILINE)
    assert strip_of(out, "nightly-database-backup") == "".join(GLYPHS[s] for s in BACKUP[-5:])


def test_list_at_200_columns_shows_everything_on_one_line_per_row(schedctl, cli_env, seeded):
    out, _ = listing(schedctl, cli_env, seeded, COLUMNS="200")

    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SCHEDULE", "NEXT", "RUN", "STATE", "LAST", "RUN", "RECENT"]
    [backup] = [line for line in lines if line.startswith("nightly-database-backup")]
    assert re.search(r"\d{4}-\d\d-\d\d 02:30:00 UTC\s+scheduled\s+failed \d+m( \d+s)? ago \(1\.5s\)",
                     backup)
    assert strip_of(out, "nightly-database-backup") == "".join(GLYPHS[s] for s in BACKUP[-10:])
    assert strip_of(out, "report") == "✔✔✘✔✔"
    assert "cron[30 2 * * *]" in out  # the schedule as written, under its words


def test_the_schedule_as_written_uses_the_jobfiles_durations(schedctl, cli_env, seeded):
    out, _ = listing(schedctl, cli_env, seeded, COLUMNS="200")
    plan = schedctl("validate", "-n", "0", seeded.parent / "jobs.yaml")

    assert plan.returncode == 0, plan.stderr
    for text in (out, plan.stdout):
        assert "interval[1h]" in text and "interval[1:00:00]" not in text


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"LANG": "C"}], ids=["no-color", "no-utf8"])
def test_the_strip_falls_back_to_ascii(schedctl, cli_env, seeded, env):
    out, _ = listing(schedctl, cli_env, seeded, COLUMNS="200", **env)
    assert strip_of(out, "nightly-database-backup") == "".join(ASCII[s] for s in BACKUP[-10:])
    assert out.isascii()
    # A job never run shows '-', which no outcome uses: a missed run's mark stands apart.
    assert strip_of(out, "cleanup") == "-"
    assert "-" not in strip_of(out, "nightly-database-backup")


# -- list: no scheduler -----------------------------------------------------------------------------

def test_list_says_when_no_scheduler_runs(schedctl, cli_env, seeded):
    out, err = listing(schedctl, cli_env, seeded, COLUMNS="200")

    assert "warning: no scheduler is running on this state file" in err
    # report's next run is an hour past; its second line carries the NEXT RUN note. (Whether
    # the nightly job is overdue too depends on the time of day the test runs.)
    lines = out.splitlines()
    [row] = [index for index, line in enumerate(lines) if line.startswith("report ")]
    report = lines[row + 1]
    assert report.startswith(" ") and "overdue" in report
    assert re.search(r"overdue (\d+m)( \d+s)?$|overdue \d+m \d+s", report)
    assert " ago" not in report.split("overdue")[1]


def test_list_with_a_scheduler_running_gives_no_warning(schedctl, cli_env, jobfile, scheduler):
    path = jobfile("""
        state: state.db
        jobs:
          tick: {command: 'true', interval: 1h}
    """)
    scheduler(path)
    result = schedctl("list", "-f", path)
    assert result.returncode == 0, result.stderr
    assert "no scheduler" not in result.stderr and "overdue" not in result.stdout
    assert result.stdout.startswith("ID")


# -- history: widths --------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", ["80", "200"])
def test_history_dates_stay_whole_and_name_their_zone(schedctl, cli_env, seeded, columns):
    cli_env.update({"LANG": "C.UTF-8", "COLUMNS": columns})
    result = schedctl("history", "--state", seeded, "-n", "5", "nightly-database-backup")
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= int(columns)
    date = r"\d\d-\d\d \d\d:\d\d UTC" if columns == "80" else r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    # One whole scheduled date, with the zone's name, on each run's first line.
    assert len([line for line in lines if re.match(rf"\d+\s+\S+\s+{date}\s", line)]) == 5


# -- history --stats, --since, --until --------------------------------------------------------------

def stats(schedctl, state: Path, *args: str) -> dict[str, Any]:
    result = schedctl("history", "--state", state, "--stats", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {row["job_id"]: row for row in json.loads(result.stdout)}


def test_history_stats_sum_up_each_job(schedctl, seeded):
    jobs = stats(schedctl, seeded)

    backup = jobs["nightly-database-backup"]
    assert (backup["runs"], backup["successes"], backup["failures"]) == (10, 6, 4)
    assert (backup["missed"], backup["skipped"]) == (1, 1)
    assert backup["success_rate"] == pytest.approx(0.6)
    assert backup["last_failure"]["outcome"] == "failed"
    assert backup["last_failure"]["error"] == "disk full"

    report = jobs["report"]
    assert report["duration"] == {"p50": 30.0, "p95": 100.0, "max": 100.0}
    assert report["latest_durations"] == [10.0, 20.0, 30.0, 40.0, 100.0]
    assert jobs["cleanup"]["runs"] == 0 and jobs["cleanup"]["success_rate"] is None


def test_history_stats_as_text(schedctl, cli_env, seeded):
    cli_env.update({"LANG": "C.UTF-8", "COLUMNS": "80"})
    result = schedctl("history", "--state", seeded, "--stats", "report")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "report  5 runs, success rate 80%"
    assert lines[1].split() == ["p50", "30s", "p95", "1m40s", "max", "1m40s", "▁▁▂▃█"]
    # The failure ended 3d 2h 59m 30s before NOW, taken when the module was collected: by the
    # time this test runs, the age may have reached 3d 3h.
    assert re.fullmatch(r"  last failure 3d [23]h ago: failed exit 1", lines[2]), lines[2]


def test_history_stats_since_counts_only_the_recent_runs(schedctl, seeded):
    jobs = stats(schedctl, seeded, "--since", "1d")
    assert jobs["report"]["runs"] == 0  # three days old
    assert jobs["nightly-database-backup"]["runs"] == 10


@pytest.mark.parametrize(("args", "count"), [
    (("--since", "1d"), len(BACKUP)),
    (("--until", "1d"), len(REPORT)),
    (("--since", "4d", "--until", "1d"), len(REPORT)),
    (("--since", "2h", "--failed"), 4),
], ids=["since", "until", "both", "with-failed"])
def test_history_filters_by_time(schedctl, seeded, args, count):
    result = schedctl("history", "--state", seeded, "-n", "100", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == count


def test_history_since_takes_a_date_and_time(schedctl, seeded):
    first_report = NOW - timedelta(days=3, hours=len(REPORT))
    since = (first_report + timedelta(minutes=30)).isoformat(timespec="minutes")
    result = schedctl("history", "--state", seeded, "report", "--json", "--since", since)
    assert [row["state"] for row in json.loads(result.stdout)] == ["success", "success", "failed",
                                                                   "success"]


@pytest.mark.parametrize(("args", "message"), [
    (("--since", "yesterday"), "'yesterday' is neither a duration back from now"),
    (("--stats", "--failed"), "--failed and --output do not apply"),
], ids=["bad-time", "stats-failed"])
def test_history_usage_errors(schedctl, seeded, args, message):
    result = schedctl("history", "--state", seeded, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
