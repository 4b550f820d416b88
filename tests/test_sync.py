"""The sync rules between a jobfile and the state store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedctl.service.control import set_paused
from schedctl.jobfile.loader import parse_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs

UTC = UTC
NOW = datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)

BASE = """
timezone: UTC
jobs:
  backup:
    command: echo backup
    cron: "30 2 * * *"
  tick:
    command: echo tick
    interval: 5m
"""


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteJobStore(path=tmp_path / "state.db")
    yield store
    store.shutdown()


def sync(store, text: str, now: datetime = NOW):
    return sync_jobs(parse_jobfile(text, "jobs.yaml", check_imports=False), store, now)


def test_first_sync_adds_every_job_with_its_first_run(store) -> None:
    report = sync(store, BASE)
    assert report.added == ["backup", "tick"]
    assert store.lookup_job("backup").next_run_time == datetime(2026, 6, 2, 2, 30, tzinfo=UTC)
    assert store.lookup_job("tick").next_run_time == NOW + timedelta(minutes=5)


def test_unchanged_jobfile_changes_nothing(store) -> None:
    sync(store, BASE)
    versions = {job.id: job.version for job in store.get_all_jobs()}
    report = sync(store, BASE, NOW + timedelta(hours=1))
    assert report.unchanged == ["backup", "tick"]
    assert {job.id: job.version for job in store.get_all_jobs()} == versions


def test_changed_command_keeps_the_pending_run(store) -> None:
    sync(store, BASE)
    report = sync(store, BASE.replace("echo backup", "echo backup v2"), NOW + timedelta(hours=1))
    assert report.updated == ["backup"] and report.rescheduled == []
    job = store.lookup_job("backup")
    assert job.next_run_time == datetime(2026, 6, 2, 2, 30, tzinfo=UTC)
    assert job.kwargs["spec"]["command"] == "echo backup v2"


def test_stdin_reaches_the_stored_command_and_runs(store) -> None:
    from schedctl.commands.jobrunner import run_command_job

    text = BASE.replace("command: echo backup", "command: cat\n    stdin: \"line 1\\nline 2\"")
    sync(store, text)
    job = store.lookup_job("backup")
    assert job.kwargs["spec"]["stdin"] == "line 1\nline 2"
    assert "stdin" not in store.lookup_job("tick").kwargs["spec"]  # a default stays out
    result = run_command_job(**job.kwargs)
    assert result.output_tail == "line 1\nline 2"


def test_changed_trigger_gets_a_fresh_next_run(store) -> None:
    sync(store, BASE)
    later = NOW + timedelta(hours=1)
    report = sync(store, BASE.replace('"30 2 * * *"', '"0 * * * *"'), later)
    assert report.rescheduled == ["backup"]
    assert store.lookup_job("backup").next_run_time == datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    # The reload's log line: the rescheduled job is one of the updated, not one more.
    assert report.summary() == "1 updated (1 rescheduled), 1 unchanged"


def test_removed_job_is_dropped(store) -> None:
    sync(store, BASE)
    report = sync(store, BASE.split("  tick:")[0])
    assert report.removed == ["tick"]
    assert store.lookup_job("tick") is None


def test_cli_pause_survives_restarts_and_edits(store) -> None:
    sync(store, BASE)
    assert set_paused(store, "backup", True, NOW)
    sync(store, BASE)  # a restart
    assert store.lookup_job("backup").next_run_time is None
    sync(store, BASE.replace("echo backup", "echo edited"))  # an edit
    assert store.lookup_job("backup").next_run_time is None


def test_jobfile_paused_value_change_wins_once(store) -> None:
    paused = BASE.replace("    interval: 5m", "    interval: 5m\n    paused: true")
    sync(store, paused)
    assert store.lookup_job("tick").next_run_time is None
    set_paused(store, "tick", False, NOW)  # resumed from the CLI: kept while the file says paused
    sync(store, paused)
    assert store.lookup_job("tick").next_run_time is not None
    sync(store, BASE)  # the file's own value changed to unpaused: stays running
    assert store.lookup_job("tick").next_run_time is not None
    sync(store, paused)  # and changed back to paused: the file wins
    assert store.lookup_job("tick").next_run_time is None


def test_one_shot_long_past_is_not_added(store) -> None:
    text = "timezone: UTC\njobs:\n  once:\n    command: 'true'\n    date: 2026-01-01T00:00\n"
    report = sync(store, text)
    assert report.expired == ["once"] and store.lookup_job("once") is None


def test_env_values_are_not_in_the_job_meta(store) -> None:
    text = BASE.replace("    command: echo tick", "    command: echo tick\n    env: {TOKEN: s3cret}")
    sync(store, text)
    assert "s3cret" not in repr(store.lookup_job("tick").meta)
    assert store.lookup_job("tick").meta["env_names"] == ["TOKEN"]
