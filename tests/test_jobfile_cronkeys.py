"""The jobfile keys that carry cron's habits over: ``user:`` (and, in the same file, the
alerts a crontab's MAILTO becomes). Problems come with file:line:column and key path."""

from __future__ import annotations

import pwd

import pytest

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
