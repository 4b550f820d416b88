"""The jobfile keys that carry cron's habits over: ``user:``, and ``on_output`` with
``sendmail:`` (a crontab's MAILTO). Problems come with file:line:column and key path."""

from __future__ import annotations

import pwd

import pytest

from schedctl.alerts.sendmail import SendmailAlert
from schedctl.jobfile.loader import JobfileError
from schedctl.state.sync import build_job
from tests.test_jobfile import job, parse, problems_of

SOMEONE = pwd.getpwuid(0).pw_name  # an account every machine has


def test_user_is_kept_and_reaches_the_command_spec() -> None:
    jobfile = parse(job(f"command: x\ninterval: 5m\nuser: {SOMEONE}"))
    spec = jobfile.jobs["backup"]
    assert spec.user == SOMEONE
    stored = build_job(spec, jobfile)
    assert stored.kwargs["spec"]["user"] == SOMEONE
    assert stored.meta["user"] == SOMEONE


def test_user_in_defaults_applies_to_command_jobs_and_a_job_may_override_it() -> None:
    jobfile = parse(f"""
        defaults: {{user: {SOMEONE}}}
        jobs:
          inherits: {{command: x, interval: 5m}}
          own: {{command: x, interval: 5m, user: null}}
          calls: {{call: os:getcwd, interval: 5m}}
        """)
    inherits, own, calls = jobfile.jobs.values()
    assert (inherits.user, own.user, calls.user) == (SOMEONE, None, None)


@pytest.mark.parametrize(("body", "where", "message"), [
    ("command: x\ninterval: 5m\nuser: no-such-user-sct",
     "jobs.yaml:5:11: jobs.backup.user:",
     "no user 'no-such-user-sct' on this machine; create it first (useradd no-such-user-sct)"),
    ("command: x\ninterval: 5m\nuser: ''", "jobs.yaml:5:11: jobs.backup.user:",
     "expected a user name, such as www-data, got an empty string"),
    (f"call: os:getcwd\ninterval: 5m\nuser: {SOMEONE}", "jobs.yaml:5:5: jobs.backup.user:",
     ("user applies only to command: jobs (a call: job runs inside the scheduler, as the "
      "scheduler's user)")),
], ids=["unknown", "empty", "call-job"])
def test_user_problems(body: str, where: str, message: str) -> None:
    assert problems_of(job(body)) == [f"{where} {message}"]


def test_a_misspelt_user_gets_a_suggestion() -> None:
    [problem] = problems_of(job(f"command: x\ninterval: 5m\nuser: {SOMEONE}x"))
    assert f"did you mean {SOMEONE!r}, or create it first" in problem


def test_an_unknown_user_in_defaults_is_reported_once() -> None:
    with pytest.raises(JobfileError) as caught:
        parse("""
            defaults: {user: no-such-user-sct}
            jobs:
              a: {command: x, interval: 5m}
              b: {command: y, interval: 5m}
            """)
    assert [str(p) for p in caught.value.problems] == [(
        "jobs.yaml:1:18: defaults.user: no user 'no-such-user-sct' on this machine; "
        "create it first (useradd no-such-user-sct)")]


# -- on_output and sendmail: cron's MAILTO and MAILFROM ---------------------------------------


@pytest.mark.parametrize(("alert", "expected"), [
    ("{sendmail: ops@example.com}", SendmailAlert(to=("ops@example.com",))),
    ("{sendmail: [ops@example.com, root]}", SendmailAlert(to=("ops@example.com", "root"))),
    ("{sendmail: {}}", SendmailAlert()),
    ("{sendmail: }", SendmailAlert()),
    ("{sendmail: {to: 'Ops <ops@example.com>', from: cron@example.com, path: "
     + "/usr/sbin/sendmail, timeout: 5s}}",
     SendmailAlert(to=("Ops <ops@example.com>",), from_addr="cron@example.com",
                   path="/usr/sbin/sendmail", timeout=5.0)),
], ids=["address", "list", "empty-mapping", "null", "every-key"])
def test_sendmail_alerts(alert: str, expected: SendmailAlert) -> None:
    spec = parse(job(f"command: x\ninterval: 5m\non_output: [{alert}]")).jobs["backup"]
    assert spec.on_output == (expected,)


def test_mailto_empty_is_an_empty_on_output_that_turns_the_defaults_off() -> None:
    jobfile = parse("""
        defaults: {on_output: [{sendmail: ops@example.com}]}
        jobs:
          mails: {command: x, interval: 5m}
          silent: {command: x, interval: 5m, on_output: []}
        """)
    assert [spec.on_output for spec in jobfile.jobs.values()] == [
        (SendmailAlert(to=("ops@example.com",)),), ()]
    assert build_job(jobfile.jobs["mails"], jobfile).meta["on_output"] == [
        {"type": "sendmail", "to": ["ops@example.com"], "from_addr": None, "path": None,
         "timeout": 30.0}]


@pytest.mark.parametrize(("body", "where", "message"), [
    ("command: x\ninterval: 5m\non_output: [{sendmail: {too: root}}]",
     "jobs.yaml:5:29: jobs.backup.on_output[0].sendmail.too:",
     "unknown key 'too' — did you mean 'to'?"),
    ("command: x\ninterval: 5m\non_output: [{sendmail: 'ops example'}]",
     "jobs.yaml:5:28: jobs.backup.on_output[0].sendmail:",
     ("'ops example' is neither an email address nor a user name (give one recipient per "
      "item: to: [ops@example.com, root])")),
    ("command: x\ninterval: 5m\non_output: [{sendmail: []}]",
     "jobs.yaml:5:28: jobs.backup.on_output[0].sendmail:",
     "the list of recipients is empty; to mail nobody, remove the alert"),
    ("call: os:getcwd\ninterval: 5m\non_output: [{sendmail: root}]",
     "jobs.yaml:5:5: jobs.backup.on_output:",
     ("on_output applies only to command: jobs (what a call: job prints is not captured); "
      "use on_failure")),
    ("command: x\ninterval: 5m\noutput: discard\non_output: [{sendmail: root}]",
     "jobs.yaml:6:16: jobs.backup.on_output:",
     ("on_output needs output: log (with output: discard nothing is captured, so there is "
      "never anything to send)")),
], ids=["key-typo", "two-words", "no-recipients", "call-job", "output-discarded"])
def test_on_output_problems(body: str, where: str, message: str) -> None:
    assert problems_of(job(body)) == [f"{where} {message}"]


def test_on_output_from_defaults_blames_the_jobs_own_output_key() -> None:
    with pytest.raises(JobfileError) as caught:
        parse("""
            defaults: {on_output: [{sendmail: root}]}
            jobs:
              noisy: {command: x, interval: 5m, output: inherit}
            """)
    assert [str(p) for p in caught.value.problems] == [(
        "jobs.yaml:3:45: jobs.noisy.output: on_output needs output: log (with output: inherit "
        "nothing is captured, so there is never anything to send)")]
