"""The audit trail's rows (schedctl.state.audit) and the lines the scheduler logs for them
(schedctl.service.auditlines), on a real SQLite state file."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.service.auditlines import AuditLines
from schedctl.state.audit import AuditEntry, AuditLog, Requester
from tests.conftest import START

ALICE = Requester(1000, "alice", "web-2")


@pytest.fixture
def store(tmp_path):
    store = SQLiteJobStore(path=tmp_path / "state.db")
    yield store
    store.shutdown()


@pytest.mark.parametrize(("requester", "with_host", "text"), [
    (ALICE, False, "uid 1000 (alice)"),
    (ALICE, True, "uid 1000 (alice) on web-2"),
    (Requester(0, "root", "db1", via="bob"), False, "uid 0 (root, via sudo from bob)"),
    (Requester(4242, None, None), True, "uid 4242"),
], ids=["uid", "host", "sudo", "unnamed"])
def test_a_requester_in_words(requester, with_host, text):
    assert requester.describe(with_host=with_host) == text


def test_rows_are_taken_once_oldest_first(store):
    log = AuditLog(store)
    for offset, action in enumerate(("pause", "resume", "run-now")):
        log.record(AuditEntry(START + timedelta(seconds=offset), action, "backup", True, ALICE))

    taken = log.take()

    assert [(e.action, e.at) for e in taken] == [
        ("pause", START), ("resume", START + timedelta(seconds=1)),
        ("run-now", START + timedelta(seconds=2))]
    assert taken[0].requester == ALICE
    assert log.take() == []


def test_rows_nobody_takes_are_bounded(store, monkeypatch):
    monkeypatch.setattr("schedctl.state.audit.KEEP_ROWS", 3)
    log = AuditLog(store)
    for n in range(5):
        log.record(AuditEntry(START, "pause", f"job{n}", True, ALICE))
    assert [e.job_id for e in log.take()] == ["job2", "job3", "job4"]


def test_names_read_back_cannot_forge_a_log_line(store):
    forged = Requester(0, "root\n2026-03-02 12:00:00+00:00 INFO    backup: resumed", "h\x1b[2J")
    AuditLog(store).record(AuditEntry(START, "pause", "backup", True, forged))
    [entry] = AuditLog(store).take()
    assert "\n" not in (entry.requester.user or "") and "\x1b" not in (entry.requester.host or "")
    assert entry.requester.user.startswith("root\\n2026")


def test_the_scheduler_logs_each_row_once_with_its_time_when_late(store, caplog, fake_clock):
    log = AuditLog(store)
    log.record(AuditEntry(START, "pause", "backup", True, ALICE))
    log.record(AuditEntry(START + timedelta(minutes=10), "pause", "backup", False, ALICE))
    lines = AuditLines(store, fake_clock, shared=True)

    with caplog.at_level(logging.INFO, logger="schedctl.audit"):
        lines.log_pending(START + timedelta(minutes=10, seconds=5))
        lines.log_pending(START + timedelta(minutes=11))

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("backup: paused by uid 1000 (alice) on web-2 at 2026-03-02 ")
    assert messages[1] == ("backup: pause asked by uid 1000 (alice) on web-2; "
                           "it was paused already")
