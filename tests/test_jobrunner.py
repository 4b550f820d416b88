"""Command jobs: retries with backoff, per-run environment, attempt reporting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from schedctl.commands import jobrunner
from schedctl.commands.processes import DEFAULT_REGISTRY
from schedctl.commands.jobrunner import run_command_job
from schedctl.commands.spec import CommandFailedError


@pytest.fixture(autouse=True)
def _fresh_listeners():
    jobrunner.STOP_RETRIES.clear()
    saved = list(jobrunner.ATTEMPT_LISTENERS)
    jobrunner.ATTEMPT_LISTENERS.clear()
    yield
    jobrunner.ATTEMPT_LISTENERS[:] = saved
    jobrunner.STOP_RETRIES.clear()


def test_retries_until_success_and_reports_each_failed_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    seen: list[tuple[int, float]] = []
    jobrunner.ATTEMPT_LISTENERS.append(lambda job, when, result, delay: seen.append((result.attempt, delay)))
    script = f'n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; [ $n -ge 3 ]'
    result = run_command_job("j", {"command": script}, retries=5, retry_delay=0.01, backoff=3)
    assert result.ok and result.attempt == 3
    assert seen == [(1, pytest.approx(0.01)), (2, pytest.approx(0.03))]


def test_gives_up_after_the_last_retry() -> None:
    with pytest.raises(CommandFailedError) as info:
        run_command_job("j", {"command": "echo $SCHEDCTL_ATTEMPT; exit 4"}, retries=1, retry_delay=0.01)
    assert info.value.result.attempt == 2
    assert info.value.result.exit_code == 4
    assert info.value.result.output_tail.strip() == "2"


def test_stop_cancels_pending_retries() -> None:
    jobrunner.STOP_RETRIES.set()
    with pytest.raises(CommandFailedError) as info:
        run_command_job("j", {"command": "exit 1"}, retries=10, retry_delay=60)
    assert info.value.result.attempt == 1


def test_a_replaced_run_is_not_retried(tmp_path: Path) -> None:
    """overlap: replace stopped it for a newer run: a retry would take the place back."""
    started = tmp_path / "started"

    def replace_once_started() -> None:
        while not started.exists() or not DEFAULT_REGISTRY.running("j"):
            time.sleep(0.01)  # a real process starting, not the scheduler's logic
        DEFAULT_REGISTRY.terminate_job("j", 5.0, reason="replaced")

    replacer = threading.Thread(target=replace_once_started)
    replacer.start()
    with pytest.raises(CommandFailedError) as info:
        run_command_job("j", {"command": f"echo $SCHEDCTL_ATTEMPT >> {started}; sleep 1000"},
                        retries=3, retry_delay=0.01)
    replacer.join()
    assert (info.value.result.outcome, info.value.result.attempt) == ("replaced", 1)
    assert started.read_text() == "1\n"


def test_scheduled_time_is_in_the_environment_of_a_scheduled_run(debug_scheduler, fake_clock, event_log) -> None:
    from schedctl.events import EVENT_JOB_EXECUTED

    debug_scheduler.start()
    debug_scheduler.add_job(run_command_job, kwargs={
        "job_id": "env", "spec": {"command": "echo $SCHEDCTL_SCHEDULED_FOR/$SCHEDCTL_ATTEMPT/$SCHEDCTL_JOB_ID"}})
    debug_scheduler.tick(fake_clock.now())
    (event,) = event_log.of(EVENT_JOB_EXECUTED)
    assert event.retval.output_tail.strip() == f"{fake_clock.now().isoformat()}/1/env"
