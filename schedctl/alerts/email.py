"""The ``email:`` alert: a plain-text message through an SMTP server; and every alert's mail.

It goes through ``smtplib`` (optionally STARTTLS and login), with a subject like
``[schedctl] backup failed on db1 (exit 3)`` and the fields of the webhook body, then the
output tail, in a plain-text body. The mail about a run's output (``on_output``) is
cron's instead: ``Subject: Cron <user@host> command`` and the output as the body.
:func:`email_message` builds both, for this transport and for ``sendmail:``.
The password is never logged nor shown in a repr.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from schedctl.alerts.context import AlertContext
from schedctl.alerts.spec import (
    AlertError,
    AlertSpec,
    AlertSpecError,
    check_timeout,
    failure_reason,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ["EmailAlert", "cron_subject", "email_message", "is_port", "scheduler_user"]


@dataclass(frozen=True)
class EmailAlert(AlertSpec):
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
        check_timeout(self.timeout, "email alert")

    def describe(self) -> str:
        return f"email to {', '.join(self.to)} via {self.host}:{self.port}"

    def send(self, context: AlertContext) -> None:
        """Hand the message to the server; fail on any SMTP error or refused header."""
        import smtplib
        import ssl

        label = self.describe()
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(email_message(context, from_addr=self.from_addr, to=self.to))
        except smtplib.SMTPException as exc:
            raise AlertError(f"{label}: {_smtp_reason(exc)}") from None
        except (OSError, ValueError) as exc:  # ValueError: a header the email package refuses
            raise AlertError(f"{label}: {failure_reason(exc, self.timeout)}") from None


def is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _smtp_reason(exc: Exception) -> str:
    code, text = getattr(exc, "smtp_code", None), getattr(exc, "smtp_error", None)
    if code is not None and isinstance(text, bytes):
        return f"the server answered {code} {text.decode('utf-8', 'replace')}"
    return str(exc) or type(exc).__name__


def email_message(context: AlertContext, *, from_addr: str, to: Sequence[str]) -> EmailMessage:
    """The email of one alert: for a failure or a recovery, the summary as subject and the
    fields and the output tail as body; for a run's output, cron's subject and the output."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    if context.kind == "output":
        message["Subject"] = cron_subject(context)
    else:
        message["Subject"] = f"[schedctl] {context.summary()}"
    message["From"] = from_addr
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(context.finished_at)
    message["Message-ID"] = make_msgid(
        "schedctl", domain=context.hostname
    )  # getfqdn() could block on DNS
    message["X-Schedctl-Job"] = context.job_id
    body = context.output_tail if context.kind == "output" else _email_body(context)
    message.set_content(body)
    return message


def cron_subject(context: AlertContext) -> str:
    """``Cron <root@db1> /usr/local/bin/backup --all``, as cron names the mail of a job's
    output; a command written on several lines is shown on one."""
    command = " ".join((context.command or context.job_id).split())
    return f"Cron <{context.user or scheduler_user()}@{context.hostname}> {command}"


def scheduler_user() -> str:
    """The name of the user this process runs as (its uid when the name is unknown)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


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
