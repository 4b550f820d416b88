"""systemd integration: sd_notify over a real datagram socket, journald lines, unit files."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schedctl.service.logfmt import JournalFormatter, JsonFormatter, choose_format
from schedctl.service.systemd import Notifier, watchdog_interval
from schedctl.service.unitfile import render_unit
from tests.prerequisites import need

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield path, sock
    sock.close()


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_notifier_sends_ready_status_stopping_and_watchdog(notify_socket) -> None:
    path, sock = notify_socket
    notifier = Notifier(str(path))
    assert notifier.ready("3 jobs")
    assert receive(sock)[:2] == ["READY=1", "STATUS=3 jobs"]
    notifier.status("2 running")
    assert receive(sock) == ["STATUS=2 running"]
    notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    notifier.stopping()
    assert receive(sock)[0] == "STOPPING=1"
    notifier.close()


def test_notifier_is_a_no_op_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert Notifier().notify("READY=1") is False


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("4000000", None, 2.0), ("4000000", "self", 2.0), ("4000000", "1", None), ("0", None, None),
    ("junk", None, None), (None, None, None),
], ids=["plain", "our-pid", "other-pid", "zero", "junk", "unset"])
def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch, usec, pid, expected) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)
    assert watchdog_interval() == expected


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("schedctl.events", level, __file__, 1, message, (), None)


@pytest.mark.parametrize(("level", "prefix"), [
    (logging.ERROR, "<3>"), (logging.WARNING, "<4>"), (logging.INFO, "<6>"), (logging.DEBUG, "<7>"),
], ids=["error", "warning", "info", "debug"])
def test_journal_lines_carry_a_priority_and_no_timestamp(level: int, prefix: str) -> None:
    line = JournalFormatter().format(_record(level, "backup: failed exit 3"))
    assert line == f"{prefix}backup: failed exit 3"


def test_json_lines_carry_the_event_fields() -> None:
    import json

    record = _record(logging.ERROR, "backup: failed")
    record.job_id, record.exit_code, record.outcome = "backup", 3, "failed"
    data = json.loads(JsonFormatter().format(record))
    assert (data["level"], data["job_id"], data["exit_code"], data["outcome"]) == ("error", "backup", 3, "failed")


def test_journald_is_detected_from_journal_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "stream", "w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert choose_format(None, stream) == "journal"
        assert choose_format("json", stream) == "json"
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert choose_format(None, stream) == "text"


@pytest.fixture
def analyze() -> None:
    """systemd-analyze, or the test skipped (failed under CI: tests/prerequisites.py)."""
    need("systemd", "systemd-analyze")


needs_analyze = pytest.mark.usefixtures("analyze")


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)


@needs_analyze
@pytest.mark.parametrize("name", ["schedctl.service", "schedctl@.service"])
def test_contrib_units_verify(tmp_path: Path, name: str) -> None:
    executable = shutil.which("schedctl") or str(Path(sys.executable).parent / "schedctl")
    text = (ROOT / "contrib" / name).read_text().replace("/usr/local/bin/schedctl", executable)
    unit = tmp_path / (name.replace("@", "@example") if "@" in name else name)
    unit.write_text(text)
    result = verify(unit)
    assert result.returncode == 0, result.stderr


@needs_analyze
def test_generated_unit_verifies(tmp_path: Path) -> None:
    executable = shutil.which("schedctl") or str(Path(sys.executable).parent / "schedctl")
    unit = tmp_path / "schedctl-jobs.service"
    unit.write_text(render_unit(jobfile=str(tmp_path / "jobs.yaml"), state=str(tmp_path / "s.db"),
                                executable=executable, user="nobody"))
    result = verify(unit)
    assert result.returncode == 0, result.stderr
    assert "Type=notify" in unit.read_text() and "User=nobody" in unit.read_text()


def test_run_speaks_sd_notify(tmp_path: Path, notify_socket) -> None:
    """The real `schedctl run` sends READY=1 once running and STOPPING=1 on SIGTERM."""
    path, sock = notify_socket
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text("timezone: UTC\njobs:\n  a:\n    command: 'true'\n    interval: 1h\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "schedctl", "run", "--state", str(tmp_path / "s.db"),
                             str(jobfile)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = receive(sock)
        assert "READY=1" in ready, ready
        assert any(f.startswith("STATUS=1 jobs") for f in ready), ready
        proc.terminate()
        messages: list[str] = []
        deadline = time.monotonic() + 10
        while "STOPPING=1" not in messages and time.monotonic() < deadline:
            messages += receive(sock)
        assert "STOPPING=1" in messages
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
