"""``on_output`` and the ``sendmail:`` transport: cron's MAILTO, with a real stand-in
``sendmail`` program that records its arguments and the message on its stdin."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from schedctl.alerts.context import AlertContext
from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.alerts.email import scheduler_user
from schedctl.alerts.sendmail import SENDMAIL_PLACES, SendmailAlert, find_sendmail
from schedctl.alerts.spec import AlertError, alert_from_dict
from schedctl.jobfile.loader import parse_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.alerts.context import TAIL_CHARS
from schedctl.service.alertrules import AlertRules
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.state.sync import sync_jobs

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOST = socket.gethostname()

#: Records each call in a directory of its own: argv (one per line) and the message,
#: renamed into place once whole so that a reader never sees half of one.
STAND_IN = """#!/bin/sh
dir=$(mktemp -d "{spool}/mail.XXXXXX")
printf '%s\\n' "$@" > "$dir/argv"
cat > "$dir/partial" && mv "$dir/partial" "$dir/message"
{tail}
"""


@dataclass
class Spool:
    """Where the stand-in sendmail leaves what it was given, and its path."""

    path: Path
    program: Path

    def calls(self) -> list[tuple[list[str], Mail]]:
        found = []
        whole = [path.parent for path in self.path.glob("mail.*/message")]
        for directory in sorted(whole, key=lambda p: (p / "message").stat().st_mtime_ns):
            argv = (directory / "argv").read_text().splitlines()
            found.append((argv, Mail((directory / "message").read_bytes())))
        return found


class Mail:
    """A message as the MTA got it: headers as written (comments kept), the body decoded."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._headers = email.message_from_bytes(raw, policy=email.policy.compat32)
        self._parsed = email.message_from_bytes(raw, policy=email.policy.default)

    def __getitem__(self, name: str) -> str | None:
        return self._headers[name]

    def get_content(self) -> str:
        assert isinstance(self._parsed, EmailMessage)
        return str(self._parsed.get_content())


def stand_in(directory: Path, *, name: str = "sendmail", tail: str = "exit 0") -> Spool:
    spool = directory / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    program = directory / name
    program.write_text(STAND_IN.format(spool=spool, tail=tail))
    program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Spool(spool, program)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return stand_in(tmp_path / "bin")


def output_context(output: str = "hello\nworld\n", **extra) -> AlertContext:
    values = {"kind": "output", "job_id": "backup", "outcome": "success", "scheduled_for": T0,
              "finished_at": T0, "exit_code": 0, "duration": 0.5, "output_tail": output,
              "command": "/usr/local/bin/backup --all", "hostname": HOST, **extra}
    return AlertContext(**values)


def test_the_output_goes_to_sendmail_with_crons_headers(spool: Spool) -> None:
    SendmailAlert(to=("ops@example.com", "root"), path=str(spool.program)).send(output_context())
    [(argv, message)] = spool.calls()
    assert argv == ["-t", "-oi"]
    assert message["From"] == f"{scheduler_user()} (Cron Daemon)"
    assert message["To"] == "ops@example.com, root"
    assert message["Subject"] == f"Cron <{scheduler_user()}@{HOST}> /usr/local/bin/backup --all"
    assert message["X-Schedctl-Job"] == "backup"
    assert message.get_content() == "hello\nworld\n"


def test_the_subject_names_the_jobs_user_and_the_mail_goes_to_it_by_default(spool) -> None:
    context = output_context(user="www-data", command="php /srv/cron.php\n  --quiet")
    SendmailAlert(path=str(spool.program), from_addr="cron@example.com").send(context)
    [(_, message)] = spool.calls()
    assert message["Subject"] == f"Cron <www-data@{HOST}> php /srv/cron.php --quiet"
    assert (message["To"], message["From"]) == ("www-data", "cron@example.com")


def test_a_failure_through_sendmail_is_schedctls_own_mail(spool: Spool) -> None:
    context = output_context(kind="failure", outcome="failed", exit_code=3, error="exit status 3")
    SendmailAlert(to=("ops@example.com",), path=str(spool.program)).send(context)
    [(_, message)] = spool.calls()
    assert message["Subject"] == f"[schedctl] backup failed on {HOST} (exit 3)"
    assert "exit_code:     3" in message.get_content()


def test_a_line_holding_a_dot_and_non_ascii_text_arrive_intact(spool: Spool) -> None:
    output = "first\n.\nnaïve — ünïcode\n" + "x" * 2000 + "\n"
    SendmailAlert(to=("root",), path=str(spool.program)).send(output_context(output))
    [(_, message)] = spool.calls()
    assert message.get_content() == output


def test_sendmail_is_found_first_on_the_path(spool: Spool, monkeypatch) -> None:
    monkeypatch.setenv("PATH", f"{spool.program.parent}{os.pathsep}{os.environ['PATH']}")
    assert find_sendmail() == str(spool.program)
    SendmailAlert(to=("root",)).send(output_context())
    assert len(spool.calls()) == 1


def test_without_any_sendmail_the_alert_says_what_to_install(tmp_path, monkeypatch) -> None:
    if any(os.access(place, os.X_OK) for place in SENDMAIL_PLACES):
        pytest.skip("this machine has a sendmail where cron looks for one")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AlertError, match="no sendmail program on the PATH nor in /usr/sbin or "
                                         "/usr/lib: install a mail transfer agent"):
        SendmailAlert(to=("root",)).send(output_context())


def test_a_refused_mail_fails_with_the_programs_last_line(tmp_path: Path) -> None:
    spool = stand_in(tmp_path, tail='echo "sendmail: fatal: no such recipient" >&2; exit 75')
    with pytest.raises(AlertError) as caught:
        SendmailAlert(to=("root",), path=str(spool.program)).send(output_context())
    assert str(caught.value) == (f"sendmail to root: {spool.program} exited with status 75: "
                                 "sendmail: fatal: no such recipient")


def test_a_hung_sendmail_is_killed_at_the_timeout(tmp_path: Path) -> None:
    spool = stand_in(tmp_path, tail="sleep 60")
    with pytest.raises(AlertError, match="did not finish within 0.3s; its process group was "
                                         "killed"):
        SendmailAlert(to=("root",), path=str(spool.program), timeout=0.3).send(output_context())


def test_the_spec_round_trips_and_describes_itself() -> None:
    spec = SendmailAlert(to=("ops@example.com",), from_addr="cron@example.com",
                         path="/usr/sbin/sendmail", timeout=5.0)
    assert alert_from_dict(spec.to_dict()) == spec
    assert (spec.describe(), SendmailAlert().describe()) == (
        "sendmail to ops@example.com", "sendmail to the job's user")


# -- on_output: when a run's output is mailed --------------------------------------------------


def rules_for(tmp_path: Path, jobfile: str) -> tuple[AlertRules, AlertDispatcher]:
    store = SQLiteJobStore(path=tmp_path / "state.db")
    sync_jobs(parse_jobfile(jobfile, "jobs.yaml"), store, T0)
    dispatcher = AlertDispatcher()
    return AlertRules(store, RunHistory(store), dispatcher), dispatcher


def test_a_run_that_printed_is_mailed_whatever_its_outcome_and_a_quiet_one_is_not(
        tmp_path, spool) -> None:
    rules, dispatcher = rules_for(tmp_path, f"""
defaults:
  on_output: [{{sendmail: {{to: ops@example.com, path: {spool.program}}}}}]
jobs:
  backup: {{command: "tar czf /b.tgz /etc", interval: 1h}}
  quiet: {{command: "true", interval: 1h, on_output: []}}
""")
    long_output = "".join(f"line {n}\n" for n in range(2000))  # beyond what other alerts carry
    assert len(long_output) > TAIL_CHARS
    rules.after_run("backup", T0, RunOutcome("success", T0, exit_code=0, output=long_output))
    rules.after_run("backup", T0, RunOutcome("success", T0, exit_code=0, output=None))
    rules.after_run("backup", T0, RunOutcome("failed", T0, exit_code=2, output="tar: denied\n"))
    rules.after_run("quiet", T0, RunOutcome("success", T0, exit_code=0, output="noise\n"))
    rules.after_run("backup", T0, RunOutcome("skipped", T0, output="never ran\n"))
    assert dispatcher.close(10)
    mails = [message for _, message in spool.calls()]
    assert [m["Subject"] for m in mails] == [f"Cron <{scheduler_user()}@{HOST}> tar czf /b.tgz /etc"] * 2
    assert [m.get_content() for m in mails] == [long_output, "tar: denied\n"]
