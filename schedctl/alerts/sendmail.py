"""The ``sendmail:`` alert: hand the mail to the local mail transfer agent, as cron does.

The message (see :func:`~schedctl.alerts.email.email_message`: cron's
``Subject: Cron <user@host> command`` for a run's output) goes to ``sendmail -t -oi`` on
its standard input: ``-t`` takes the recipients from the ``To:`` header, ``-oi`` keeps a
line holding a single dot from ending the message. Every MTA ships such a program
(Postfix, Exim, OpenSMTPD, msmtp-mta, nullmailer). Recipients may be local users
(``root``), which the MTA delivers to their mailbox. With no ``to``, the mail goes to
the user the job ran as, as cron mails a crontab's owner.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import ClassVar

from schedctl.alerts.command import exit_text, kill_group, last_line
from schedctl.alerts.context import AlertContext
from schedctl.alerts.email import email_message, scheduler_user
from schedctl.alerts.spec import AlertError, AlertSpec, AlertSpecError, check_timeout

__all__ = ["SENDMAIL_PLACES", "SendmailAlert", "find_sendmail"]

#: Where cron and mail programs look for sendmail when it is not on the PATH.
SENDMAIL_PLACES = ("/usr/sbin/sendmail", "/usr/lib/sendmail")


@dataclass(frozen=True)
class SendmailAlert(AlertSpec):
    """Pipe the mail into ``path -t -oi`` (default: ``sendmail`` on the PATH, or where
    cron finds it). ``from_addr`` defaults to ``<scheduler user> (Cron Daemon)``."""

    kind: ClassVar[str] = "sendmail"
    to: tuple[str, ...] = ()
    from_addr: str | None = None
    path: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.to, str | list):
            object.__setattr__(
                self, "to", (self.to,) if isinstance(self.to, str) else tuple(self.to)
            )
        headers = [*self.to, self.from_addr or ""]
        if not all(isinstance(value, str) for value in headers) or any(
            "\n" in value or "\r" in value for value in headers
        ):
            raise AlertSpecError("sendmail alert: addresses must be text on one line")
        if self.path is not None and not (isinstance(self.path, str) and self.path.strip()):
            raise AlertSpecError("sendmail alert: path must be the path of a sendmail program")
        check_timeout(self.timeout, "sendmail alert")

    def describe(self) -> str:
        whom = ", ".join(self.to) if self.to else "the job's user"
        return f"sendmail to {whom}"

    def send(self, context: AlertContext) -> None:
        """Run ``sendmail -t -oi`` with the message on stdin; fail on a non-zero exit."""
        program = find_sendmail(self.path)
        to = self.to or (context.user or scheduler_user(),)
        sender = self.from_addr or f"{scheduler_user()} (Cron Daemon)"
        data = email_message(context, from_addr=sender, to=to).as_bytes()
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(
                    [program, "-t", "-oi"], stdin=subprocess.PIPE, stdout=output,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            except OSError as exc:
                raise AlertError(f"{self.describe()}: cannot start {program}: "
                                 f"{exc.strerror or exc}") from None
            try:
                process.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                kill_group(process)
                raise AlertError(f"{self.describe()}: {program} did not finish within "
                                 f"{self.timeout:g}s; its process group was killed") from None
            if process.returncode != 0:
                raise AlertError(f"{self.describe()}: {program} {exit_text(process.returncode)}"
                                 f"{last_line(output)}")


def find_sendmail(path: str | None = None) -> str:
    """The program to run: ``path`` as given, else ``sendmail`` on the PATH, else the first
    of :data:`SENDMAIL_PLACES` that exists; :class:`AlertError` saying what to install."""
    if path is not None:
        return path
    found = shutil.which("sendmail") or next(
        (place for place in SENDMAIL_PLACES if os.access(place, os.X_OK)), None
    )
    if found is None:
        raise AlertError(
            "no sendmail program on the PATH nor in /usr/sbin or /usr/lib: install a mail "
            "transfer agent (postfix, exim4, msmtp-mta, nullmailer), or give its path: "
            "sendmail: {path: /path/to/sendmail}"
        )
    return found

