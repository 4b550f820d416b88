"""``on_failure`` / ``on_recovery`` alerts: run a command, POST a webhook, send an email.

A recovery is the first success after a failure. Alerts go out from one worker
thread (:class:`AlertDispatcher`), so a slow mail server never delays a job, and
an alert that fails is logged on ``schedctl.alerts`` and dropped: it never
blocks or stops the scheduler. Passwords and header values are never logged, and
webhook URLs are shown without their path, which often holds a token.

A ``command:`` alert runs under ``/bin/sh -c`` (a list runs as argv), in its own
process group that is killed at its timeout. It reads the output tail on stdin
and finds the rest in its environment: ``SCHEDCTL_ALERT`` (failure or recovery),
``SCHEDCTL_JOB_ID``, ``SCHEDCTL_OUTCOME``, ``SCHEDCTL_EXIT_CODE``,
``SCHEDCTL_SIGNAL``, ``SCHEDCTL_DURATION`` (seconds, as 1.234),
``SCHEDCTL_SCHEDULED_FOR``, ``SCHEDCTL_FINISHED_AT`` (ISO 8601),
``SCHEDCTL_HOSTNAME``, ``SCHEDCTL_ERROR`` and ``SCHEDCTL_DESCRIPTION``; a value
that does not apply is empty.

A ``webhook:`` alert POSTs this JSON body (``Content-Type: application/json``,
``User-Agent: schedctl/<version>``); any answer but 2xx is a failure, and
redirects are not followed::

    {
      "schedctl": 1,                    # version of this body; fields are only ever added
      "kind": "failure",                # or "recovery"
      "job_id": "backup",
      "outcome": "failed",              # failed, timeout, killed, not_started, interrupted,
                                        # error (a call: job raised), success (recovery)
      "exit_code": 3,                   # null unless the process exited by itself
      "signal": null,                   # the signal that ended it, else null
      "duration": 12.345,               # seconds, null if it never started
      "scheduled_for": "2026-03-01T02:30:00+00:00",
      "finished_at": "2026-03-01T02:30:12.345000+00:00",
      "error": "exit status 3",         # one line on what went wrong, null on success
      "output_tail": "tar: /etc/shadow: Cannot open: Permission denied\\n",
      "hostname": "db1",
      "description": "Nightly backup"   # the job's description, or null
    }

An ``email:`` alert goes through ``smtplib`` (optionally STARTTLS and login),
with a subject like ``[schedctl] backup failed on db1 (exit 3)`` and the same
fields, then the output tail, in a plain-text body.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from schedctl import __version__
from schedctl.commands.spec import signal_name
from schedctl.errors import SchedctlError

if TYPE_CHECKING:
    from email.message import EmailMessage

    from schedctl.commands.runner import CommandResult

__all__ = [
    "AlertContext",
    "AlertDispatcher",
    "AlertError",
    "AlertSpec",
    "AlertSpecError",
    "CommandAlert",
    "EmailAlert",
    "WebhookAlert",
    "alert_from_dict",
    "send_alert",
]

AlertKind = Literal["failure", "recovery"]
#: Characters of output an alert carries: the end of the output, where the error usually is.
TAIL_CHARS = 4096
#: Alerts waiting to be sent; beyond this a failure storm drops alerts instead of eating memory.
QUEUE_SIZE = 1000
_REAP_SECONDS = 2.0  # after SIGKILL, how long an escaped process may hold on to its output file

_log = logging.getLogger("schedctl.alerts")


class AlertError(SchedctlError):
    """An alert could not be sent; the message says which one and why, without secrets."""


class AlertSpecError(SchedctlError, ValueError):
    """An alert's settings are invalid (an ftp:// URL, an email without recipients, ...)."""


@dataclass(frozen=True)
class CommandAlert:
    """Run ``command`` (a str through ``/bin/sh -c``, a tuple as argv)."""

    kind: ClassVar[str] = "command"
    command: str | tuple[str, ...]
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.command, list):
            object.__setattr__(self, "command", tuple(self.command))
        argv = _argv_of(self.command)
        if not argv or not all(isinstance(arg, str) for arg in argv) or not argv[0].strip():
            raise AlertSpecError("command alert: give a command line or a list of arguments")
        _check_timeout(self.timeout, "command alert")

    def describe(self) -> str:
        """How logs name it: the program only, since arguments (``TOKEN=... curl``) may be secret."""
        program = next((word for word in _argv_of(self.command) if "=" not in word), "sh")
        return f"command alert {program!r}"

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True, repr=False)
class WebhookAlert:
    """POST the JSON body of :meth:`AlertContext.to_json` to ``url``."""

    kind: ClassVar[str] = "webhook"
    url: str
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", dict(self.headers))  # the caller's dict may change
        problem = url_problem(self.url)
        if problem:
            raise AlertSpecError(f"webhook alert: {problem}")
        _check_timeout(self.timeout, "webhook alert")

    def __repr__(self) -> str:
        headers = dict.fromkeys(self.headers, "***")
        return f"WebhookAlert(url={safe_url(self.url)!r}, timeout={self.timeout!r}, headers={headers!r})"

    def describe(self) -> str:
        return f"webhook to {safe_url(self.url)}"

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class EmailAlert:
    """Send a plain-text email through the SMTP server at ``host:port``."""

    kind: ClassVar[str] = "email"
    host: str
    to: tuple[str, ...]
    from_addr: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.to, str | list):
            object.__setattr__(
                self, "to", (self.to,) if isinstance(self.to, str) else tuple(self.to)
            )
        if not self.host or not self.to or not self.from_addr:
            raise AlertSpecError("email alert: host, to and from_addr are required")
        if not is_port(self.port):
            raise AlertSpecError(f"email alert: port must be 1 to 65535, got {self.port!r}")
        _check_timeout(self.timeout, "email alert")

    def describe(self) -> str:
        return f"email to {', '.join(self.to)} via {self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


AlertSpec = CommandAlert | WebhookAlert | EmailAlert
_KINDS: dict[str, type[CommandAlert | WebhookAlert | EmailAlert]] = {
    cls.kind: cls for cls in (CommandAlert, WebhookAlert, EmailAlert)
}


def alert_from_dict(data: Mapping[str, Any]) -> AlertSpec:
    """The inverse of ``to_dict``: ``{"type": "webhook", "url": ...}`` -> a WebhookAlert."""
    values = dict(data)
    cls = _KINDS.get(values.pop("type", None))
    if cls is None:
        raise AlertSpecError(
            f"alert type must be one of {', '.join(_KINDS)}, got {data.get('type')!r}"
        )
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AlertSpecError(f"{cls.kind} alert: unknown keys {', '.join(unknown)}")
    if isinstance(values.get("command"), list):
        values["command"] = tuple(values["command"])
    if isinstance(values.get("to"), list):
        values["to"] = tuple(values["to"])
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise AlertSpecError(f"{cls.kind} alert: {exc}") from None


def _to_dict(spec: AlertSpec) -> dict[str, Any]:
    """JSON-able, every field included (the password too: it is for the state store)."""
    data: dict[str, Any] = {"type": spec.kind}
    for f in fields(spec):
        value = getattr(spec, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    if "headers" in data:
        data["headers"] = dict(data["headers"])
    return data


def _argv_of(command: object) -> tuple[Any, ...]:
    if isinstance(command, str):
        return tuple(command.split())
    return command if isinstance(command, tuple) else ()


def is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _check_timeout(timeout: object, what: str) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise AlertSpecError(
            f"{what}: timeout must be a positive number of seconds, got {timeout!r}"
        )


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot take a webhook POST, or None. Never quotes the URL: it may hold a token."""
    if not isinstance(url, str) or not url.strip():
        return "expected an http:// or https:// URL"
    if any(char.isspace() for char in url):
        return "the URL contains spaces or line breaks; percent-encode them (%20)"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6 address
        return "the URL's host is not valid"
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"expected an http:// or https:// URL, got {shown}"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port such as :99999 or :abc
    except ValueError:
        return "the URL's port is not a number from 1 to 65535"
    if not parts.hostname:
        return "the URL has no host name"
    return None


def safe_url(url: str) -> str:
    """``https://hooks.example.com/…``: scheme and host only; paths and logins often hold secrets."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<invalid URL>"
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{rest}"


@dataclass(frozen=True, kw_only=True)
class AlertContext:
    """What an alert says about a run. ``duration`` is None when the job never started."""

    kind: AlertKind
    job_id: str
    outcome: str
    scheduled_for: datetime
    finished_at: datetime
    exit_code: int | None = None
    signal: int | None = None
    duration: float | None = None
    error: str | None = None
    output_tail: str = ""
    hostname: str = field(default_factory=socket.gethostname)
    description: str | None = None

    @classmethod
    def from_result(
        cls,
        kind: AlertKind,
        job_id: str,
        result: CommandResult,
        *,
        scheduled_for: datetime,
        description: str | None = None,
    ) -> AlertContext:
        """The context of a command run's result; the tail is cut to :data:`TAIL_CHARS`."""
        return cls(
            kind=kind,
            job_id=job_id,
            outcome=result.outcome,
            exit_code=result.exit_code,
            signal=result.signal,
            scheduled_for=scheduled_for,
            finished_at=result.finished_at,
            duration=None if result.outcome == "not_started" else result.duration,
            error=result.error,
            output_tail=result.output_tail[-TAIL_CHARS:],
            description=description,
        )

    def to_json(self) -> dict[str, Any]:
        """The webhook body documented at the top of this module."""
        return {
            "schedctl": 1,
            "kind": self.kind,
            "job_id": self.job_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "duration": None if self.duration is None else round(self.duration, 3),
            "scheduled_for": self.scheduled_for.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "error": self.error,
            "output_tail": self.output_tail,
            "hostname": self.hostname,
            "description": self.description,
        }

    def env(self) -> dict[str, str]:
        """The ``SCHEDCTL_*`` variables of a command alert; empty text for "does not apply"."""
        body = self.to_json()
        env = {
            f"SCHEDCTL_{name.upper()}": _env_text(value)
            for name, value in body.items()
            if name not in ("schedctl", "output_tail")  # the tail goes to stdin
        }
        env["SCHEDCTL_ALERT"] = env.pop("SCHEDCTL_KIND")
        return env

    def summary(self) -> str:
        """``backup failed on db1 (exit 3)``: the email subject, less its ``[schedctl]``."""
        if self.kind == "recovery":
            return f"{self.job_id} recovered on {self.hostname}"
        verb = _VERBS.get(self.outcome, self.outcome)
        detail = ""
        if self.exit_code not in (None, 0):
            detail = f" (exit {self.exit_code})"
        elif self.signal is not None:
            detail = f" ({signal_name(self.signal)})"
        return f"{self.job_id} {verb} on {self.hostname}{detail}"


_VERBS = {
    "failed": "failed",
    "error": "failed",
    "timeout": "timed out",
    "killed": "was killed",
    "not_started": "did not start",
    "interrupted": "was interrupted",
    "success": "succeeded",
}


def _env_text(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("\0", "")  # exec refuses NUL in the environment


# -- sending -----------------------------------------------------------------------------------


def send_alert(spec: AlertSpec, context: AlertContext) -> None:
    """Send one alert now, in this thread; raise :class:`AlertError` saying why it failed."""
    if isinstance(spec, CommandAlert):
        _run_command(spec, context)
    elif isinstance(spec, WebhookAlert):
        _post_webhook(spec, context)
    else:
        _send_email(spec, context)


def _run_command(spec: CommandAlert, context: AlertContext) -> None:
    argv = ["/bin/sh", "-c", spec.command] if isinstance(spec.command, str) else list(spec.command)
    label = spec.describe()
    # Output goes to a file rather than a pipe: memory stays flat, and a process the
    # command leaves behind cannot hold up the wait by keeping the pipe open.
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **context.env()},
                start_new_session=True,
            )
        except OSError as exc:
            raise AlertError(f"{label} cannot start: {exc.strerror or exc}") from None
        try:
            process.communicate(
                context.output_tail.encode("utf-8", "replace"), timeout=spec.timeout
            )
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise AlertError(
                f"{label} timed out after {spec.timeout:g}s; its process group was killed"
            ) from None
        if process.returncode != 0:
            raise AlertError(f"{label} {_exit_text(process.returncode)}{_last_line(output)}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=_REAP_SECONDS)
    process.wait()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal_name(-returncode)}"
    return f"exited with status {returncode}"


def _last_line(output: Any) -> str:
    """``: <the command's last line of output>``, to say why it failed."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 400))
    lines = output.read().decode("utf-8", "replace").strip().splitlines()
    return f": {lines[-1][-200:]}" if lines else ""


def _post_webhook(spec: WebhookAlert, context: AlertContext) -> None:
    # Imported here: reading a jobfile builds alerts but should not pay for http and ssl.
    import http.client
    import urllib.error
    import urllib.request

    body = json.dumps(context.to_json()).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"schedctl/{__version__}"}
    request = urllib.request.Request(
        spec.url, data=body, headers={**headers, **spec.headers}, method="POST"
    )
    opener = urllib.request.build_opener(_no_redirects())
    label = spec.describe()
    try:
        with opener.open(request, timeout=spec.timeout):
            pass
    except urllib.error.HTTPError as exc:
        exc.close()
        hint = " (redirects are not followed: give the final URL)" if exc.code < 400 else ""
        raise AlertError(
            f"{label}: the server answered HTTP {exc.code} {exc.reason}{hint}"
        ) from None
    except urllib.error.URLError as exc:
        raise AlertError(f"{label}: {_reason(exc.reason, spec.timeout)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise AlertError(f"{label}: {_reason(exc, spec.timeout)}") from None


def _reason(exc: object, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _no_redirects() -> Any:
    """A handler that turns a redirect into its HTTP error: urllib would resend the POST
    as a GET without the body, and report success."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRedirects()


def _send_email(spec: EmailAlert, context: AlertContext) -> None:
    import smtplib
    import ssl

    label = spec.describe()
    try:
        with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout) as smtp:
            if spec.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if spec.username is not None:
                smtp.login(spec.username, spec.password or "")
            smtp.send_message(email_message(spec, context))
    except smtplib.SMTPException as exc:
        raise AlertError(f"{label}: {_smtp_reason(exc)}") from None
    except (OSError, ValueError) as exc:  # ValueError: a header the email package refuses
        raise AlertError(f"{label}: {_reason(exc, spec.timeout)}") from None


def _smtp_reason(exc: Exception) -> str:
    code, text = getattr(exc, "smtp_code", None), getattr(exc, "smtp_error", None)
    if code is not None and isinstance(text, bytes):
        return f"the server answered {code} {text.decode('utf-8', 'replace')}"
    return str(exc) or type(exc).__name__


def email_message(spec: EmailAlert, context: AlertContext) -> EmailMessage:
    """The email of one alert: the summary as subject, the fields and the output tail as body."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    message["Subject"] = f"[schedctl] {context.summary()}"
    message["From"] = spec.from_addr
    message["To"] = ", ".join(spec.to)
    message["Date"] = format_datetime(context.finished_at)
    message["Message-ID"] = make_msgid(
        "schedctl", domain=context.hostname
    )  # getfqdn() could block on DNS
    message["X-Schedctl-Job"] = context.job_id
    message.set_content(_email_body(context))
    return message


def _email_body(context: AlertContext) -> str:
    body = context.to_json()
    rows = [
        (name, body[name])
        for name in (
            "job_id",
            "description",
            "outcome",
            "exit_code",
            "signal",
            "duration",
            "scheduled_for",
            "finished_at",
            "hostname",
            "error",
        )
    ]
    lines = [f"{context.summary()}.", ""]
    lines += [f"{name + ':':15}{'-' if value is None else value}" for name, value in rows]
    lines += ["", "Last output:" if context.output_tail else "No output.", context.output_tail]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- the worker --------------------------------------------------------------------------------


class AlertDispatcher:
    """Sends alerts from one daemon thread, so that callers never wait and never see an error.

    ``dispatch`` queues (dropping, with an error in the log, when ``max_pending`` are
    already waiting); :meth:`close` sends what is left, for at most its timeout.
    """

    def __init__(self, max_pending: int = QUEUE_SIZE) -> None:
        self._max_pending = max_pending
        self._pending: collections.deque[tuple[AlertSpec, AlertContext]] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Alerts queued and not yet being sent."""
        with self._changed:
            return len(self._pending)

    def dispatch(self, specs: Iterable[AlertSpec], context: AlertContext) -> None:
        """Queue each alert of ``specs`` about ``context``; returns at once."""
        with self._changed:
            for spec in specs:
                if self._closed or len(self._pending) >= self._max_pending:
                    why = (
                        "alerts are closed" if self._closed else f"{len(self._pending)} are waiting"
                    )
                    _log.error(
                        "dropped the %s %s for job %r: %s",
                        context.kind,
                        spec.describe(),
                        context.job_id,
                        why,
                    )
                    continue
                self._pending.append((spec, context))
                self._start()
            self._changed.notify()

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, waiting at most ``timeout`` seconds; True if all went out."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if not thread.is_alive():
            return True
        with self._changed:
            left = len(self._pending)
            self._pending.clear()
        _log.error("%d alert(s) not sent: gave up waiting for the one being sent", left + 1)
        return False

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="schedctl-alerts", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                spec, context = self._pending.popleft()
            self._send(spec, context)

    @staticmethod
    def _send(spec: AlertSpec, context: AlertContext) -> None:
        try:
            send_alert(spec, context)
        except AlertError as exc:
            _log.error("%s alert for job %r failed: %s", context.kind, context.job_id, exc)
        except Exception:  # noqa: BLE001 - a bug must not end the thread: later alerts still go out
            _log.exception(
                "%s alert for job %r: unexpected error in %s",
                context.kind,
                context.job_id,
                spec.describe(),
            )
        else:
            _log.info("%s alert for job %r sent: %s", context.kind, context.job_id, spec.describe())
