"""Alerts against real servers: a local HTTP server, a local SMTP server (aiosmtpd), real processes."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import os
import re
import select
import shlex
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import schedctl.alerts.context
from schedctl import __version__
from schedctl.alerts.command import CommandAlert
from schedctl.alerts.context import AlertContext
from schedctl.alerts.dispatcher import AlertDispatcher, send_alert
from schedctl.alerts.email import EmailAlert
from schedctl.alerts.spec import AlertError, AlertSpec, AlertSpecError, alert_from_dict
from schedctl.alerts.webhook import WebhookAlert

WAIT = 10.0  # the longest any wait on an event may take before the test fails

CONTEXT = AlertContext(
    kind="failure",
    job_id="backup",
    outcome="failed",
    exit_code=3,
    duration=1.2345,
    scheduled_for=datetime(2026, 3, 1, 2, 30, tzinfo=UTC),
    finished_at=datetime(2026, 3, 1, 2, 30, 1, 234500, tzinfo=UTC),
    error="exit status 3",
    output_tail="tar: /etc/shadow: Cannot open: Permission denied\nlast line, café\n",
    hostname="db1",
    description="Nightly backup",
)
RECOVERY = replace(CONTEXT, kind="recovery", outcome="success", exit_code=0, error=None)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours proxy variables; the local servers must be reached directly."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- a local webhook receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    """A running HTTP server: what it received, and a gate that holds its answers back."""

    url: str
    status: int
    requests: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int) -> list[Received]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, WAIT)
            return list(self.requests)


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hook.changed:
                hook.requests.append(Received(self.path, dict(self.headers), body))
                hook.changed.notify_all()
            hook.release.wait(WAIT)
            with contextlib.suppress(OSError):  # the client may have given up waiting
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook_server() -> Iterator[Callable[..., Hook]]:
    """Starts local HTTP servers: ``webhook_server(status=500, hold=True)``."""
    cleanups: list[Callable[[], None]] = []

    def start(status: int = 204, *, hold: bool = False) -> Hook:
        hook = Hook(url="", status=status)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
        hook.url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/secret-token"
        if not hold:
            hook.release.set()
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()

        def stop() -> None:
            hook.release.set()
            server.shutdown()
            server.server_close()
            thread.join(WAIT)

        cleanups.append(stop)
        return hook

    yield start
    for stop in cleanups:
        stop()


# --- a local SMTP server


class Mailbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"hunter2")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = closed_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=check_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def email_alert(port: int, **options: Any) -> EmailAlert:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "from_addr": "schedctl@example.com",
        "to": ("ops@example.com", "oncall@example.com"),
        "timeout": 5,
    }
    return EmailAlert(port=port, **{**settings, **options})


# --- the body and the environment


def test_to_json_is_the_documented_body() -> None:
    doc = schedctl.alerts.context.__doc__ or ""
    example = doc[doc.index("    {") : doc.index("    }") + 5]
    documented = json.loads(re.sub(r"#.*", "", example))
    assert list(documented) == list(CONTEXT.to_json())
    assert CONTEXT.to_json() == {
        "schedctl": 1,
        "kind": "failure",
        "job_id": "backup",
        "outcome": "failed",
        "exit_code": 3,
        "signal": None,
        "duration": 1.234,
        "scheduled_for": "2026-03-01T02:30:00+00:00",
        "finished_at": "2026-03-01T02:30:01.234500+00:00",
        "error": "exit status 3",
        "output_tail": CONTEXT.output_tail,
        "hostname": "db1",
        "description": "Nightly backup",
    }


def test_env_names_every_field() -> None:
    assert CONTEXT.env() == {
        "SCHEDCTL_ALERT": "failure",
        "SCHEDCTL_JOB_ID": "backup",
        "SCHEDCTL_OUTCOME": "failed",
        "SCHEDCTL_EXIT_CODE": "3",
        "SCHEDCTL_SIGNAL": "",
        "SCHEDCTL_DURATION": "1.234",
        "SCHEDCTL_SCHEDULED_FOR": "2026-03-01T02:30:00+00:00",
        "SCHEDCTL_FINISHED_AT": "2026-03-01T02:30:01.234500+00:00",
        "SCHEDCTL_ERROR": "exit status 3",
        "SCHEDCTL_HOSTNAME": "db1",
        "SCHEDCTL_DESCRIPTION": "Nightly backup",
    }


SUMMARIES = [
    ("exit", CONTEXT, "backup failed on db1 (exit 3)"),
    ("timeout", replace(CONTEXT, outcome="timeout", exit_code=None, signal=15), "backup timed out on db1 (SIGTERM)"),
    ("killed", replace(CONTEXT, outcome="killed", exit_code=None, signal=9), "backup was killed on db1 (SIGKILL)"),
    ("not-started", replace(CONTEXT, outcome="not_started", exit_code=None), "backup did not start on db1"),
    ("recovery", RECOVERY, "backup recovered on db1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("context", "expected"), [s[1:] for s in SUMMARIES], ids=[s[0] for s in SUMMARIES]
)
def test_summary(context: AlertContext, expected: str) -> None:
    assert context.summary() == expected


# --- webhooks


def test_webhook_posts_the_body(webhook_server: Callable[..., Hook]) -> None:
    hook = webhook_server(204)
    send_alert(WebhookAlert(hook.url, headers={"Authorization": "Bearer t0ken"}), CONTEXT)
    [request] = hook.wait_for(1)
    assert json.loads(request.body) == CONTEXT.to_json()
    assert request.path == "/services/T0/B0/secret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"schedctl/{__version__}"
    assert request.headers["Authorization"] == "Bearer t0ken"


@pytest.mark.parametrize("status", [302, 404, 500])
def test_webhook_answered_with_an_error(status: int, webhook_server: Callable[..., Hook]) -> None:
    hook = webhook_server(status)
    with pytest.raises(AlertError, match=f"HTTP {status}") as caught:
        send_alert(WebhookAlert(hook.url), CONTEXT)
    assert "secret-token" not in str(caught.value)  # the path often is the credential
    assert ("redirects are not followed" in str(caught.value)) is (status < 400)


def test_webhook_to_a_closed_port() -> None:
    with pytest.raises(AlertError, match="refused"):
        send_alert(WebhookAlert(f"http://127.0.0.1:{closed_port()}/hook"), CONTEXT)


def test_webhook_without_an_answer_times_out(webhook_server: Callable[..., Hook]) -> None:
    hook = webhook_server(204, hold=True)
    with pytest.raises(AlertError, match=r"no answer within 0.5s"):
        send_alert(WebhookAlert(hook.url, timeout=0.5), CONTEXT)
    assert not hook.release.is_set()  # it gave up while the server still held its answer


# --- email


def test_email_is_delivered(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    send_alert(email_alert(port), CONTEXT)
    [(sender, recipients, message)] = mailbox.envelopes
    assert sender == "schedctl@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    assert message["Subject"] == "[schedctl] backup failed on db1 (exit 3)"
    assert message["To"] == "ops@example.com, oncall@example.com"
    body = message.get_content().replace("\r\n", "\n")
    for text in ("backup", "Nightly backup", "failed", "exit status 3", CONTEXT.output_tail):
        assert text in body


def test_recovery_email_with_login(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    send_alert(email_alert(port, username="alerts", password="hunter2"), RECOVERY)
    [(_, _, message)] = mailbox.envelopes
    assert message["Subject"] == "[schedctl] backup recovered on db1"


def test_email_with_a_wrong_password(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    with pytest.raises(AlertError, match="535") as caught:
        send_alert(email_alert(port, username="alerts", password="wrong-pw"), CONTEXT)
    assert "wrong-pw" not in str(caught.value)
    assert mailbox.envelopes == []


def test_starttls_refused_by_the_server(smtp_server: tuple[Mailbox, int]) -> None:
    _, port = smtp_server
    with pytest.raises(AlertError, match="STARTTLS"):
        send_alert(email_alert(port, starttls=True), CONTEXT)


def test_email_to_a_closed_port() -> None:
    with pytest.raises(AlertError, match=r"email to ops@example.com.*refused"):
        send_alert(email_alert(closed_port()), CONTEXT)


# --- commands


def test_command_gets_the_env_and_the_tail_on_stdin(tmp_path: Path) -> None:
    stdin, env = tmp_path / "stdin", tmp_path / "env"
    send_alert(
        CommandAlert(f"cat > {shlex.quote(str(stdin))}; env > {shlex.quote(str(env))}"), CONTEXT
    )
    assert stdin.read_text() == CONTEXT.output_tail
    seen = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    assert CONTEXT.env().items() <= seen.items()
    assert seen["PATH"] == os.environ["PATH"]  # merged over the inherited environment


def test_argv_command_runs_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ("/bin/sh", "-c", 'printf %s "$SCHEDCTL_ALERT $1" > "$2"', "sh", "a b;c", str(out))
    send_alert(CommandAlert(argv), RECOVERY)
    assert out.read_text() == "recovery a b;c"


def test_failing_command(tmp_path: Path) -> None:
    with pytest.raises(AlertError, match=r"command alert 'echo' exited with status 3: disk full$"):
        send_alert(CommandAlert("echo starting; echo disk full >&2; exit 3"), CONTEXT)


def test_missing_program() -> None:
    with pytest.raises(AlertError, match="cannot start: No such file"):
        send_alert(CommandAlert(("/nonexistent/notify",)), CONTEXT)


def test_command_timeout_kills_its_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {shlex.quote(str(pidfile))}; wait"
    with pytest.raises(AlertError, match="timed out after 0.5s"):
        send_alert(CommandAlert(command, timeout=0.5), CONTEXT)
    assert exited(int(pidfile.read_text()))  # the background sleep went with the group


def exited(pid: int) -> bool:
    """Wait (on a pidfd, up to WAIT) until ``pid`` has exited."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:  # no pidfd_open (Linux < 5.3, a seccomp filter): nothing to wait on
        pytest.skip("pidfd_open is not available")
    try:
        return bool(select.select([pidfd], [], [], WAIT)[0])
    finally:
        os.close(pidfd)


# --- specs


SPECS: list[AlertSpec] = [
    CommandAlert("notify-send 'backup failed'"),
    CommandAlert(("/usr/local/bin/page", "--team", "ops"), timeout=5.0),
    WebhookAlert("https://hooks.example.com/T0/secret", headers={"Authorization": "Bearer x"}),
    email_alert(587, starttls=True, username="alerts", password="hunter2"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_specs_round_trip_through_json(spec: AlertSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["type"] in ("command", "webhook", "email")
    assert alert_from_dict(data) == spec


def test_secrets_stay_out_of_reprs_and_labels() -> None:
    webhook, mail = SPECS[2], SPECS[3]
    shown = " ".join([repr(webhook), webhook.describe(), repr(mail), mail.describe()])
    for secret in ("secret", "Bearer x", "hunter2"):
        assert secret not in shown
    assert "Authorization" in repr(webhook) and "hooks.example.com" in shown
    assert CommandAlert("TOKEN=abc curl -d @- https://x").describe() == "command alert 'curl'"


BAD_SPECS: list[tuple[str, Callable[[], Any], str]] = [
    ("ftp-url", lambda: WebhookAlert("ftp://example.com/x"), "http:// or https://"),
    ("no-host", lambda: WebhookAlert("http:///x"), "no host"),
    ("bad-port", lambda: WebhookAlert("http://example.com:99999/"), "port"),
    ("no-recipients", lambda: email_alert(25, to=()), "required"),
    ("port-zero", lambda: EmailAlert("mail", ("a@b",), "c@d", port=0), "port"),
    ("empty-command", lambda: CommandAlert("  "), "command line"),
    ("zero-timeout", lambda: CommandAlert("x", timeout=0), "timeout"),
    ("unknown-type", lambda: alert_from_dict({"type": "pager"}), "one of command, webhook"),
    (
        "unknown-key",
        lambda: alert_from_dict({"type": "command", "command": "x", "shel": 1}),
        "shel",
    ),
    ("missing-key", lambda: alert_from_dict({"type": "webhook"}), "url"),
]


@pytest.mark.parametrize(
    ("make", "words"), [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS]
)
def test_invalid_specs(make: Callable[[], Any], words: str) -> None:
    with pytest.raises(AlertSpecError, match=words):
        make()


# --- the dispatcher


@pytest.fixture
def alert_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="schedctl.alerts")
    return caplog


def test_a_failed_alert_is_logged_and_the_next_still_goes_out(
    tmp_path: Path, alert_log: pytest.LogCaptureFixture
) -> None:
    done = tmp_path / "done"
    dispatcher = AlertDispatcher()
    dispatcher.dispatch(
        [
            email_alert(closed_port(), username="alerts", password="hunter2"),
            CommandAlert(f"touch {shlex.quote(str(done))}"),
        ],
        CONTEXT,
    )
    assert dispatcher.close(WAIT)
    assert done.exists()
    [failed] = [r for r in alert_log.records if r.levelno == logging.ERROR]
    assert "failure alert for job 'backup' failed: email to ops@example.com" in failed.message
    assert failed.exc_info is None  # one line, no traceback
    assert any("sent: command alert 'touch'" in r.message for r in alert_log.records)
    assert "hunter2" not in alert_log.text


def test_counts_say_what_became_of_each_alert(
    webhook_server: Callable[..., Hook], alert_log: pytest.LogCaptureFixture
) -> None:
    hook = webhook_server(204, hold=True)
    dispatcher = AlertDispatcher(max_pending=1)
    dispatcher.dispatch([WebhookAlert(hook.url, timeout=WAIT)], RECOVERY)
    hook.wait_for(1)  # being sent: the queue is empty again
    dispatcher.dispatch([CommandAlert("exit 1")], CONTEXT)  # queued, then fails
    dispatcher.dispatch([CommandAlert("true")], CONTEXT)  # the queue is full: dropped
    hook.release.set()
    assert dispatcher.close(WAIT)
    assert dispatcher.counts.snapshot() == {
        ("recovery", "sent"): 1, ("failure", "failed"): 1, ("failure", "dropped"): 1,
    }


def test_dispatch_never_waits_for_a_stuck_alert(
    webhook_server: Callable[..., Hook], alert_log: pytest.LogCaptureFixture
) -> None:
    hook = webhook_server(204, hold=True)
    dispatcher = AlertDispatcher(max_pending=2)
    dispatcher.dispatch([WebhookAlert(hook.url, timeout=WAIT)], CONTEXT)
    hook.wait_for(1)  # the worker is now stuck in that POST
    dispatcher.dispatch([WebhookAlert(hook.url, timeout=WAIT)] * 3, CONTEXT)
    assert not hook.release.is_set()  # every dispatch returned while the server held on
    assert dispatcher.pending == 2
    assert "dropped the failure webhook to http://127.0.0.1" in alert_log.text
    hook.release.set()
    assert dispatcher.close(WAIT)
    assert len(hook.wait_for(3)) == 3


def test_close_gives_up_at_its_deadline(
    webhook_server: Callable[..., Hook], alert_log: pytest.LogCaptureFixture
) -> None:
    hook = webhook_server(204, hold=True)
    dispatcher = AlertDispatcher()
    dispatcher.dispatch([WebhookAlert(hook.url, timeout=WAIT)] * 2, CONTEXT)
    hook.wait_for(1)
    assert dispatcher.close(0.2) is False
    assert "2 alert(s) not sent" in alert_log.text
    dispatcher.dispatch([CommandAlert("true")], CONTEXT)  # closed: dropped, not raised
    assert "alerts are closed" in alert_log.text
    assert dispatcher.pending == 0


def test_close_without_alerts_has_nothing_to_wait_for() -> None:
    assert AlertDispatcher().close(0) is True
