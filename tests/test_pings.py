"""Monitoring pings against a real local HTTP server: the URLs of each protocol, the jobfile
key, retries, and a real Service on a stepped clock (order, rid, body, a hung monitor)."""

from __future__ import annotations

import contextlib
import signal
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.alerts.ping import BODY_BYTES, PingDelivery, PingEvent, PingSpec, PingSpecError
from schedctl.jobfile.loader import JobfileError, parse_jobfile
from schedctl.timeutil import to_epoch_ms
from tests.faults.harness import LEDGER_LINE, SteppingClock, read_ledger, run_service

WAIT = 10.0
T0 = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours proxy variables; the local server must be reached directly."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """A Service run in this process installs handlers for SIGTERM, SIGINT and SIGHUP."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# --- a local monitor


@dataclass
class Ping:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes


@dataclass
class Monitor:
    """A running HTTP server: the pings it got, the answers it gives, a gate that holds them."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in turn; 200 once used up
    pings: list[Ping] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int) -> list[Ping]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.pings) >= count, WAIT)
            return list(self.pings)


def _handler(monitor: Monitor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urlsplit(self.path)
            with monitor.changed:
                monitor.pings.append(Ping(self.command, parts.path, parse_qs(parts.query), body))
                status = monitor.statuses.pop(0) if monitor.statuses else 200
                monitor.changed.notify_all()
            monitor.release.wait(WAIT * 3)
            with contextlib.suppress(OSError):  # the client may have given up waiting
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def monitor_server() -> Iterator[Callable[..., Monitor]]:
    """Starts local monitors: ``monitor_server(500, 500)`` answers 500 twice, then 200."""
    cleanups: list[Callable[[], None]] = []

    def start(*statuses: int, hold: bool = False) -> Monitor:
        monitor = Monitor(statuses=list(statuses))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(monitor))
        monitor.url = f"http://127.0.0.1:{server.server_port}"
        if not hold:
            monitor.release.set()
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()

        def stop() -> None:
            monitor.release.set()
            server.shutdown()
            server.server_close()
            thread.join(WAIT)

        cleanups.append(stop)
        return monitor

    yield start
    for stop in cleanups:
        stop()


# --- the URLs of each protocol

START = PingEvent(job_id="backup", rid="R1", phase="start")


def end(outcome: str, exit_code: int | None = None, **more: Any) -> PingEvent:
    return PingEvent(job_id="backup", rid="R1", phase="end", outcome=outcome,
                     exit_code=exit_code, **more)


HC = PingSpec(url="https://hc-ping.com/KEY/{job_id}?create=1")


@pytest.mark.parametrize(("event", "url"), [
    (START, "https://hc-ping.com/KEY/backup/start?create=1&rid=R1"),
    (end("success", 0), "https://hc-ping.com/KEY/backup/0?create=1&rid=R1"),
    (end("success"), "https://hc-ping.com/KEY/backup/0?create=1&rid=R1"),  # a call: job
    (end("failed", 3), "https://hc-ping.com/KEY/backup/3?create=1&rid=R1"),
    (end("timeout"), "https://hc-ping.com/KEY/backup/fail?create=1&rid=R1"),
    (end("killed"), "https://hc-ping.com/KEY/backup/fail?create=1&rid=R1"),
    (end("not_started"), "https://hc-ping.com/KEY/backup/fail?create=1&rid=R1"),
    (end("interrupted"), "https://hc-ping.com/KEY/backup/fail?create=1&rid=R1"),
    (end("error"), "https://hc-ping.com/KEY/backup/fail?create=1&rid=R1"),
], ids=["start", "exit-0", "call-success", "exit-3", "timeout", "signal", "not-started",
        "interrupted", "raised"])
def test_healthchecks_urls(event: PingEvent, url: str) -> None:
    target = HC.target(event)
    assert target is not None and target[0] == url


CRONITOR = PingSpec(
    start="https://cronitor.link/p/KEY/{job_id}?state=run&series={rid}",
    success="https://cronitor.link/p/KEY/{job_id}?state=complete&series={rid}&metric=duration:{duration}",
    failure="https://cronitor.link/p/KEY/{job_id}?state=fail&series={rid}&status_code={exit_code}",
    method="GET",
)
SENTRY = PingSpec(
    start="https://o1.ingest.sentry.io/api/2/cron/{job_id}/KEY/?status=in_progress&check_in_id={rid}",
    success="https://o1.ingest.sentry.io/api/2/cron/{job_id}/KEY/?status=ok&check_in_id={rid}",
    failure="https://o1.ingest.sentry.io/api/2/cron/{job_id}/KEY/?status=error&check_in_id={rid}",
    method="GET",
)


@pytest.mark.parametrize(("spec", "event", "url"), [
    (CRONITOR, START, "https://cronitor.link/p/KEY/backup?state=run&series=R1"),
    (CRONITOR, end("success", 0, duration=1.5),
     "https://cronitor.link/p/KEY/backup?state=complete&series=R1&metric=duration:1.500"),
    (CRONITOR, end("failed", 3), "https://cronitor.link/p/KEY/backup?state=fail&series=R1&status_code=3"),
    (CRONITOR, end("timeout"), "https://cronitor.link/p/KEY/backup?state=fail&series=R1&status_code="),
    (SENTRY, START, "https://o1.ingest.sentry.io/api/2/cron/backup/KEY/?status=in_progress&check_in_id=R1"),
    (SENTRY, end("killed"), "https://o1.ingest.sentry.io/api/2/cron/backup/KEY/?status=error&check_in_id=R1"),
], ids=["cronitor-run", "cronitor-complete", "cronitor-fail", "cronitor-timeout", "sentry-start",
        "sentry-error"])
def test_templates_fill_in_each_phase(spec: PingSpec, event: PingEvent, url: str) -> None:
    assert spec.target(event) == (url, None)  # GET: no body


def test_a_placeholder_is_url_encoded_and_a_phase_without_template_sends_nothing() -> None:
    spec = PingSpec(failure="https://mon.example/{job_id}/fail")
    event = PingEvent(job_id="a b/c", rid="R", phase="end", outcome="failed", exit_code=1)
    assert spec.target(event) == ("https://mon.example/a%20b%2Fc/fail", b"")
    assert spec.target(START) is None
    assert spec.target(end("success", 0)) is None


def test_the_body_is_the_output_tail_cut_at_a_character() -> None:
    output = "first line\n" + "é" * BODY_BYTES + "\nlast line\n"
    target = HC.target(end("failed", 1, output_tail=output))
    assert target is not None
    body = target[1]
    assert body is not None and len(body) <= BODY_BYTES
    assert body.decode("utf-8").endswith("é\nlast line\n")  # decodes: no half character
    assert HC.target(START) == ("https://hc-ping.com/KEY/backup/start?create=1&rid=R1", b"")


@pytest.mark.parametrize(("settings", "words"), [
    ({}, "give a url, or URL templates"),
    ({"url": "ftp://x"}, "http:// or https://"),
    ({"url": "https://x/{rid}"}, "unknown placeholder {rid} (expected one of: job_id)"),
    ({"start": "https://x/{nope}"}, "start: unknown placeholder {nope}"),
    ({"failure": "https://x/{rid:>5}"}, "write placeholders plainly"),
    ({"success": "https://x/{"}, "unbalanced"),
    ({"url": "https://x", "start": "https://y"}, "not both"),
    ({"url": "https://x", "method": "PUT"}, "POST or GET"),
    ({"url": "https://x", "timeout": 0}, "timeout must be a positive number"),
    ({"url": "https://x", "retries": -1}, "retries must be a whole number"),
], ids=["nothing", "scheme", "rid-in-url", "unknown", "format-spec", "brace", "both", "method",
        "timeout", "retries"])
def test_invalid_pings(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(PingSpecError, match=words.replace("{", r"\{").replace("(", r"\(")
                       .replace(")", r"\)")):
        PingSpec(**settings)


# --- the jobfile key

def jobs(ping: str, defaults: str = "") -> str:
    return f"""\
defaults:
  command: "true"
  interval: 1h
{defaults}
jobs:
  backup:
    {ping}
  other: {{}}
"""


def test_a_ping_under_defaults_serves_every_job_and_null_turns_it_off() -> None:
    text = jobs("ping: null", "  ping: https://hc-ping.com/KEY/{job_id}")
    specs = parse_jobfile(text, "jobs.yaml").jobs
    assert specs["backup"].ping is None
    assert specs["other"].ping == PingSpec(url="https://hc-ping.com/KEY/{job_id}")


def test_the_long_form_takes_its_options() -> None:
    text = jobs("ping: {start: 'https://m/{rid}', failure: 'https://m/f', method: get, "
                "timeout: 5s, retries: 0}")
    assert parse_jobfile(text, "jobs.yaml").jobs["backup"].ping == PingSpec(
        start="https://m/{rid}", failure="https://m/f", method="GET", timeout=5.0, retries=0)


@pytest.mark.parametrize(("ping", "message"), [
    ("ping: ftp://m/x",
     "jobs.yaml:7:11: jobs.backup.ping: expected an http:// or https:// URL, got ftp:"),
    ("ping: {start: 'https://m/{rd}'}",
     ("jobs.yaml:7:19: jobs.backup.ping.start: unknown placeholder {rd} (expected one of: rid, "
      "job_id, outcome, exit_code, duration, duration_ms)")),
    ("ping: {url: 'https://m', tmeout: 5s}",
     "jobs.yaml:7:30: jobs.backup.ping.tmeout: unknown key 'tmeout' — did you mean 'timeout'?"),
    ("ping: {url: 'https://m', start: 'https://m'}",
     "jobs.yaml:7:12: jobs.backup.ping.url: give url or start, success, failure, not both"),
    ("ping: {method: GET}",
     ("jobs.yaml:7:11: jobs.backup.ping: give url (a healthchecks.io ping URL) or URL templates "
      "for start, success, failure")),
    ("ping: {url: 'https://m', method: PUT}",
     "jobs.yaml:7:38: jobs.backup.ping.method: expected POST or GET, got 'PUT'"),
    ("ping: [https://m]",
     "jobs.yaml:7:11: jobs.backup.ping: expected an http:// or https:// URL, got a list"),
], ids=["scheme", "placeholder", "typo", "both", "no-url", "method", "list"])
def test_jobfile_errors_name_the_line_and_key(ping: str, message: str) -> None:
    with pytest.raises(JobfileError) as raised:
        parse_jobfile(jobs(ping), "jobs.yaml")
    assert str(raised.value) == message
    assert "https://m" not in str(raised.value)  # a ping URL holds its monitor's key


# --- sending, retries, counts

def test_a_failing_monitor_is_retried_then_counted(monitor_server: Callable[..., Monitor]) -> None:
    flaky = monitor_server(500, 503)  # up on the third try
    gone = monitor_server(404)  # a wrong check URL: retrying cannot help
    dispatcher = AlertDispatcher()
    for monitor in (flaky, gone):
        spec = PingSpec(url=f"{monitor.url}/hc/{{job_id}}", retries=2, retry_delay=0.01)
        dispatcher.submit(PingDelivery(spec, START))
    assert dispatcher.close(WAIT)
    assert [p.path for p in flaky.pings] == ["/hc/backup/start"] * 3
    assert [p.path for p in gone.pings] == ["/hc/backup/start"]
    assert dispatcher.counts.snapshot() == {("ping", "sent"): 1, ("ping", "failed"): 1}


# --- a real Service on a stepped clock

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(textwrap.dedent(text))
    return path


PINGED = """
    state: state.db
    timezone: UTC
    jobs:
      backup:
        command: '{ledger}; echo copying; echo "disk full" >&2; exit 3'
        interval: 1m
        ping: {{url: '{url}/hc/{{job_id}}', timeout: {timeout}, retries: 0}}
      flaky:
        command: '{ledger}; test "$SCHEDCTL_ATTEMPT" = 2'
        cron: "1 12 * * *"
        retries: 1
        retry_delay: 10ms
        ping: {{url: '{url}/hc/{{job_id}}', timeout: {timeout}, retries: 0}}
"""


def test_each_attempt_pings_start_then_end_with_one_rid_and_its_output(
    tmp_path: Path, monitor_server: Callable[..., Monitor], restore_signals: None,
) -> None:
    monitor = monitor_server()
    text = PINGED.format(ledger=LEDGER_LINE.format(ledger=tmp_path / "ledger"), url=monitor.url,
                         timeout="10s")
    record = run_service(write(tmp_path, text), tmp_path / "state.db", SteppingClock(T0, until=T0 + timedelta(minutes=2, seconds=10)))
    assert not record.problems

    by_job: dict[str, list[Ping]] = {}
    for ping in monitor.wait_for(8):  # backup twice, flaky's two attempts once each
        by_job.setdefault(ping.path.split("/")[2], []).append(ping)
    backup = [(p.method, p.path.rsplit("/", 1)[1], p.query["rid"]) for p in by_job["backup"]]
    assert [(method, status) for method, status, _ in backup] == [
        ("POST", "start"), ("POST", "3"), ("POST", "start"), ("POST", "3")]
    rids = [rid for _, _, [rid] in backup]
    assert rids[0] == rids[1] and rids[2] == rids[3] and rids[0] != rids[2]
    start, ended = by_job["backup"][:2]
    assert start.body == b""
    assert b"copying\n" in ended.body and b"disk full\n" in ended.body

    flaky = [(p.path.rsplit("/", 1)[1], p.query["rid"][0]) for p in by_job["flaky"]]
    assert [status for status, _ in flaky] == ["start", "1", "start", "0"]
    assert flaky[0][1] == flaky[1][1] != flaky[2][1] == flaky[3][1]  # one rid per attempt


class ReleasingClock(SteppingClock):
    """Lets the monitor answer only when the timeline ends, noting what ran before that."""

    def __init__(self, monitor: Monitor, ledger: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.monitor, self.ledger = monitor, ledger
        self.seen: tuple[list[tuple[str, int]], int] | None = None

    def _stop(self) -> None:
        if self.seen is None:
            self.seen = read_ledger(self.ledger), len(self.monitor.pings)
            self.monitor.release.set()
        super()._stop()


def test_a_hung_monitor_never_delays_the_next_run(
    tmp_path: Path, monitor_server: Callable[..., Monitor], restore_signals: None,
) -> None:
    monitor = monitor_server(hold=True)  # takes each ping, answers only once released
    ledger = tmp_path / "ledger"
    text = PINGED.format(ledger=LEDGER_LINE.format(ledger=ledger), url=monitor.url,
                         timeout="1h")
    clock = ReleasingClock(monitor, ledger, start=T0, until=T0 + timedelta(minutes=5))
    assert not run_service(write(tmp_path, text), tmp_path / "state.db", clock).problems

    assert clock.seen is not None
    ran, pinged = clock.seen
    minutes = [to_epoch_ms(T0 + timedelta(minutes=n)) for n in range(1, 5)]
    assert [when for job, when in ran if job == "backup"] == minutes  # every slot, on time
    assert pinged == 1  # while the monitor still held its first ping
    assert len(monitor.wait_for(12)) == 12  # then every ping went out, none lost
