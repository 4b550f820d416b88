"""The run history and presence tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedctl.state import history as history_module
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.jobstores.sqlite import SQLiteJobStore

UTC = UTC
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(tmp_path: Path):
    store = SQLiteJobStore(path=tmp_path / "state.db")
    yield RunHistory(store)
    store.shutdown()


def test_a_run_goes_from_running_to_its_outcome(history: RunHistory) -> None:
    history.started("a", T0, at=T0, owner="h/1")
    assert history.running_jobs() == {"a"}
    history.finished("a", T0, RunOutcome("failed", T0 + timedelta(seconds=2), exit_code=3,
                                         output="oops"), owner="h/1")
    (run,) = history.runs("a")
    assert (run.state, run.exit_code, run.duration, run.output) == ("failed", 3, 2.0, "oops")
    assert history.running_jobs() == set()
    assert history.failures_since(T0) == 1


def test_missed_runs_are_rows_without_a_start(history: RunHistory) -> None:
    history.finished("a", T0, RunOutcome("missed", T0, error="missed 3 run(s)"), owner="h/1")
    (run,) = history.runs()
    assert (run.state, run.started_at, run.error) == ("missed", None, "missed 3 run(s)")


def test_retries_are_separate_attempts(history: RunHistory) -> None:
    history.started("a", T0, at=T0, owner="h/1")
    history.finished("a", T0, RunOutcome("failed", T0, exit_code=1), owner="h/1")
    history.started("a", T0, at=T0, owner="h/1", attempt=2)
    history.finished("a", T0, RunOutcome("success", T0, exit_code=0, attempt=2), owner="h/1")
    assert [(r.attempt, r.state) for r in history.runs("a")] == [(2, "success"), (1, "failed")]
    assert history.runs("a", failed_only=True)[0].attempt == 1


def test_a_retry_announced_but_never_started_is_dropped_by_the_last_outcome(
    history: RunHistory,
) -> None:
    history.started("a", T0, at=T0, owner="h/1")
    history.finished("a", T0, RunOutcome("failed", T0, exit_code=1), owner="h/1")
    history.started("a", T0, at=T0 + timedelta(minutes=1), owner="h/1", attempt=2)
    history.finished("a", T0, RunOutcome("failed", T0, exit_code=1), owner="h/1")  # no retry
    assert [(r.attempt, r.state) for r in history.runs("a")] == [(1, "failed")]


def test_unfinished_runs_become_interrupted(history: RunHistory) -> None:
    history.started("a", T0, at=T0, owner="h/1")
    assert history.interrupt_unfinished(at=T0 + timedelta(minutes=1)) == 1
    (run,) = history.runs()
    assert run.state == "interrupted" and "stopped" in (run.error or "")


def test_history_is_pruned_per_job(history: RunHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 5)
    for minute in range(12):
        when = T0 + timedelta(minutes=minute)
        history.finished("a", when, RunOutcome("success", when), owner="h/1")
    history.finished("b", T0, RunOutcome("success", T0), owner="h/1")
    runs = history.runs("a", limit=100)
    assert len(runs) == 5 and runs[0].scheduled_for == T0 + timedelta(minutes=11)
    assert len(history.runs("b")) == 1


def test_pruning_never_drops_a_run_still_going(
    history: RunHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long run under a flood of newer rows (say, skipped ones) keeps its row."""
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 3)
    history.started("a", T0, at=T0, owner="h/1")
    for minute in range(1, 8):
        when = T0 + timedelta(minutes=minute)
        history.finished("a", when, RunOutcome("skipped", when), owner="h/1")
    states = [(r.scheduled_for, r.state) for r in history.runs("a", limit=100)]
    assert (T0, "running") in states and len(states) == 4


def test_presence_and_heartbeat(history: RunHistory) -> None:
    assert history.presence() is None
    history.announce(pid=42, hostname="box", at=T0, jobfile="/etc/jobs.yaml")
    history.heartbeat(at=T0 + timedelta(seconds=10))
    presence = history.presence()
    assert (presence.pid, presence.hostname, presence.heartbeat_at) == (42, "box", T0 + timedelta(seconds=10))


def test_a_boot_run_is_claimed_once_per_boot(history: RunHistory) -> None:
    assert history.claim_boot_run("warmup", "boot-1")
    assert not history.claim_boot_run("warmup", "boot-1")  # schedctl restarted, same boot
    assert history.claim_boot_run("other", "boot-1")
    assert history.claim_boot_run("warmup", "boot-2")  # the machine rebooted


def test_boot_trigger_never_fires_on_a_clock() -> None:
    from schedctl.triggers.base import trigger_from_json, trigger_to_json
    from schedctl.triggers.boot import BootTrigger, current_boot_id

    trigger = BootTrigger()
    assert trigger.get_next_fire_time(None, T0) is None
    assert (str(trigger), trigger_from_json(trigger_to_json(trigger))) == ("@reboot", trigger)
    assert current_boot_id("/nonexistent/boot_id") is None


@pytest.mark.parametrize(
    ("claimed_ago", "started_at"), [(0.0, T0), (5.0, T0 + timedelta(seconds=2))],
    ids=["same-pass", "later"],
)
def test_a_claimed_run_keeps_its_claim_time_as_start_unless_submitted_later(
    history: RunHistory, claimed_ago: float, started_at: datetime
) -> None:
    """The claim writes the run's row and start; a start in the same pass of the loop writes
    nothing more, one a while after the claim records when it really began."""
    from schedctl.clock import lease_monotonic

    store = history._store
    with store._writing(notify=False) as conn:
        claim = store.insert_run(conn, "a", T0, attempt=1, now=T0,
                                 sent=lease_monotonic() - claimed_ago, owner="h/1")
    assert claim is not None
    store.claims.add(claim)
    assert history.started("a", T0, at=T0 + timedelta(seconds=2), owner="h/1") is None
    (run,) = history.runs("a")
    assert (run.state, run.started_at) == ("running", started_at)


def test_with_a_long_history_pruning_comes_every_twentieth_of_it(
    history: RunHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 40)  # prunes every 2nd end
    for minute in range(46):
        when = T0 + timedelta(minutes=minute)
        history.finished("a", when, RunOutcome("success", when), owner="h/1")
        assert 1 <= len(history.runs("a", limit=1000)) <= 41
    assert len(history.runs("a", limit=1000)) == 41  # 46 ends: the last pruning was at the 45th


def test_the_views_of_jobs_on_one_schedule_share_its_trigger_and_say_the_same(
        tmp_path: Path) -> None:
    from schedctl.jobfile.loader import load_jobfile
    from schedctl.state.sync import sync_jobs
    from schedctl.jobstores._sqllisting import JobListing
    from schedctl.state.views import SHOWN_META, _job_view, job_views

    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text("jobs:\n" + "".join(
        f"  j{i}:\n    command: 'true'\n    {schedule}\n" for i, schedule in enumerate([
            'cron: "0 6 * * *"', 'cron: "0 6 * * *"', "interval: 1h", "interval: 1h",
            "interval: 2h", 'cron: "0 6 * * *"\n    timezone: Asia/Tokyo', "cron: '@reboot'"])))
    jobfile.chmod(0o600)
    store = SQLiteJobStore(path=str(tmp_path / "state.db"))
    sync_jobs(load_jobfile(jobfile), store, datetime(2026, 6, 1, tzinfo=UTC))
    history = RunHistory(store)

    shared = store.list_jobs(SHOWN_META)
    triggers = {job.id: job.trigger for job in shared}
    assert triggers["j0"] is triggers["j1"] and triggers["j2"] is triggers["j3"]
    assert len({id(trigger) for trigger in triggers.values()}) == 5
    assert len({id(job.trigger) for job in store.get_all_jobs()}) == 7  # the scheduler's own
    alone = [_job_view(JobListing.of(job, SHOWN_META), set(), None, recent=[])
             for job in store.get_all_jobs()]
    assert job_views(store, history) == alone
    assert "Asia/Tokyo" in {view.timezone for view in alone}
    store.shutdown()


def test_a_service_leaves_each_jobs_first_pruning_to_its_heartbeat(
    history: RunHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run end since the start is one statement; the heartbeat prunes after it."""
    monkeypatch.setattr(history_module, "KEEP_RUNS_PER_JOB", 3)
    for minute in range(5):  # a history left by an earlier start
        when = T0 + timedelta(minutes=minute)
        history.finished("a", when, RunOutcome("success", when), owner="h/1")
    restarted = RunHistory(history._store)
    restarted.defer_first_prunes = True
    when = T0 + timedelta(minutes=5)
    restarted.finished("a", when, RunOutcome("success", when), owner="h/1")
    assert len(restarted.runs("a", limit=100)) == 4
    assert restarted.prune_deferred() == 1
    runs = restarted.runs("a", limit=100)
    assert len(runs) == 3 and runs[0].scheduled_for == when
    assert restarted.prune_deferred() == 0
