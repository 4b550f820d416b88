"""Alerts sent by a running scheduler: on failure, and on the first success after one."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.jobfile.loader import parse_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.service.alertrules import AlertRules
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.state.sync import sync_jobs

UTC = UTC
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def webhook():
    """A real HTTP server on loopback; yields (url, queue of received JSON bodies)."""
    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.put(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def jobfile_text(url: str, command: str = "exit 3", interval: str = "1h") -> str:
    return f"""
timezone: UTC
defaults:
  on_failure: [{{webhook: "{url}"}}]
  on_recovery: [{{webhook: "{url}"}}]
jobs:
  backup:
    description: Nightly backup
    command: "{command}"
    interval: {interval}
"""


def test_failure_alerts_each_time_and_recovery_once(tmp_path: Path, webhook) -> None:
    url, received = webhook
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(parse_jobfile(jobfile_text(url), "jobs.yaml"), store, T0)
    history = RunHistory(store)
    dispatcher = AlertDispatcher()
    rules = AlertRules(store, history, dispatcher)
    failed = RunOutcome("failed", T0, exit_code=3, output="tar: denied\n", duration=1.5)
    for outcome in (failed, failed, RunOutcome("success", T0, exit_code=0),
                    RunOutcome("success", T0, exit_code=0), RunOutcome("missed", T0)):
        rules.after_run("backup", T0, outcome)
    dispatcher.close(10)
    bodies = [received.get(timeout=30) for _ in range(3)]
    assert [(b["kind"], b["outcome"]) for b in bodies] == [
        ("failure", "failed"), ("failure", "failed"), ("recovery", "success")]
    assert bodies[0]["exit_code"] == 3 and bodies[0]["output_tail"] == "tar: denied\n"
    assert bodies[0]["description"] == "Nightly backup"
    assert received.empty()
    store.shutdown()


def test_a_replaced_run_neither_alerts_nor_ends_a_failure_spell(tmp_path: Path, webhook) -> None:
    """overlap: replace stops a run on purpose: no failure alert for it, and the success
    after it is still the recovery of the failure before it."""
    url, received = webhook
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(parse_jobfile(jobfile_text(url), "jobs.yaml"), store, T0)
    dispatcher = AlertDispatcher()
    rules = AlertRules(store, RunHistory(store), dispatcher)
    replaced = RunOutcome("replaced", T0, signal=None, exit_code=143,
                          error="replaced by a newer run after 1m00s (overlap: replace)")
    for outcome in (replaced, RunOutcome("failed", T0, exit_code=3), replaced,
                    RunOutcome("success", T0, exit_code=0)):
        rules.after_run("backup", T0, outcome)
    dispatcher.close(10)
    bodies = [received.get(timeout=30) for _ in range(2)]
    assert [(b["kind"], b["outcome"]) for b in bodies] == [
        ("failure", "failed"), ("recovery", "success")]
    assert received.empty()
    store.shutdown()


def test_a_job_failing_before_a_restart_still_sends_its_recovery(tmp_path: Path, webhook) -> None:
    url, received = webhook
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(parse_jobfile(jobfile_text(url), "jobs.yaml"), store, T0)
    history = RunHistory(store)
    history.finished("backup", T0, RunOutcome("failed", T0, exit_code=1), owner="h/1")
    dispatcher = AlertDispatcher()
    AlertRules(store, history, dispatcher).after_run("backup", T0, RunOutcome("success", T0))
    dispatcher.close(10)
    assert received.get(timeout=30)["kind"] == "recovery"
    store.shutdown()


def test_running_scheduler_posts_the_failure(tmp_path: Path, webhook) -> None:
    """End to end: the real `schedctl run` posts a webhook when its job fails."""
    url, received = webhook
    jobfile = tmp_path / "jobs.yaml"
    # A one-shot date in the past with no grace limit runs as soon as the scheduler starts.
    jobfile.write_text(jobfile_text(url, command="echo broken; exit 7").replace(
        "interval: 1h", "date: 2020-01-01T00:00\n    misfire_grace_time: none"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "schedctl", "run", "--state", str(tmp_path / "s.db"), str(jobfile)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL,
    )
    try:
        body = received.get(timeout=20)
        assert (body["job_id"], body["kind"], body["exit_code"]) == ("backup", "failure", 7)
        assert body["output_tail"].strip() == "broken"
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
