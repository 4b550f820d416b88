"""The jobfile: every problem at once with file:line:col and key path; valid files as dataclasses."""

from __future__ import annotations

import os
import pwd
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedctl.alerts.command import CommandAlert
from schedctl.alerts.email import EmailAlert
from schedctl.alerts.webhook import WebhookAlert
from schedctl.commands.spec import CommandSpec
from schedctl.jobfile import keys
from schedctl.jobfile.commandkeys import parse_size
from schedctl.jobfile.loader import (
    MAX_BYTES,
    JobfileError,
    Problem,
    default_state_path,
    load_jobfile,
    parse_jobfile,
    resolve_state,
)
from schedctl.jobfile.specs import ExecutorSpec, Jobfile, JobSpec, TriggerSpec
from schedctl.jobfile.triggerkeys import JOB_KEY_NAMES

SAMPLES = Path(__file__).parent / "jobfiles"


def parse(text: str, **options: bool) -> Jobfile:
    return parse_jobfile(textwrap.dedent(text).lstrip("\n"), "jobs.yaml", **options)


def problems_of(text: str) -> list[str]:
    with pytest.raises(JobfileError) as caught:
        parse(text)
    return [str(problem) for problem in caught.value.problems]


def job(body: str, job_id: str = "backup") -> str:
    """A jobfile holding one job: the job's id is on line 2, column 3; its keys from line 3, column 5."""
    lines = textwrap.dedent(body).strip("\n").splitlines()
    return "\n".join(["jobs:", f"  {job_id}:", *(f"    {line}" for line in lines)])


# (id, jobfile text, the exact start of the one problem expected, words its message contains)
# fmt: off
PROBLEMS = [
    # --- YAML itself
    ("syntax-error", "jobs:\n  a: b: c\n", "jobs.yaml:2:7: invalid YAML:", ["mapping values"]),
    ("tab-indent", "jobs:\n\tbackup: {}\n", "jobs.yaml:2:1: invalid YAML:", ["tabs"]),
    ("duplicate-key", job("command: a\ncron: '* * * * *'\ncron: '0 * * * *'"),
     "jobs.yaml:5:5: jobs.backup.cron:", ["duplicate key 'cron'", "first given on line 4"]),
    ("duplicate-job", "jobs:\n  a: {command: x, interval: 5m}\n  a: {command: y, interval: 5m}\n",
     "jobs.yaml:3:3: jobs.a:", ["duplicate key 'a'", "line 2"]),
    ("two-documents", "jobs: {}\n---\njobs: {}\n",
     "jobs.yaml:2:1:", ["more than one YAML document"]),
    ("empty-file", "", "jobs.yaml:1:1:", ["the jobfile is empty", "'jobs' mapping"]),
    ("comments-only", "# nothing yet\n", "jobs.yaml:1:1:", ["the jobfile is empty"]),
    ("control-char", "jobs:\n  a\x07: {}\n", "jobs.yaml:2:4:", ["control character U+0007"]),
    ("unknown-tag", job("command: !shell x\ninterval: 5m"),
     "jobs.yaml:3:14: jobs.backup.command:", ["!shell"]),
    ("set-tag", "jobs: !!set {a}\n", "jobs.yaml:1:7: jobs:", ["!!set is not supported"]),
    ("recursive-alias", "jobs: &a\n  x: *a\n", "jobs.yaml:1:1:", ["alias to itself"]),
    ("complex-key", "jobs:\n  ? [a, b]\n  : {}\n",
     "jobs.yaml:2:5: jobs:", ["a key must be a plain name"]),
    ("impossible-yaml-date", job("command: x\ndate: 2026-02-30"),
     "jobs.yaml:4:11: jobs.backup.date:", ["day is out of range"]),
    # --- the shape of the file
    ("top-level-list", "- a\n- b\n",
     "jobs.yaml:1:1:", ["expected a mapping with a 'jobs' key, got a list"]),
    ("jobs-not-mapping", "jobs: [a, b]\n",
     "jobs.yaml:1:7: jobs:", ["expected a mapping of job ids"]),
    ("job-not-mapping", "jobs:\n  backup:\n",
     "jobs.yaml:2:3: jobs.backup:", ["expected a mapping", "got null"]),
    ("bad-job-id", job("command: x\ninterval: 5m", job_id="'my job'"),
     "jobs.yaml:2:3: jobs.my job:", ["letters, digits"]),
    ("top-unknown-key", "jobs: {}\nstat: x.db\n",
     "jobs.yaml:2:1: stat:", ["unknown key 'stat' — did you mean 'state'?"]),
    ("job-key-at-top", "jobs: {}\ncron: x\n",
     "jobs.yaml:2:1: cron:", ["unknown key 'cron'", "under jobs.<id>"]),
    # --- keys of a job
    ("unknown-key", job("command: x\nintervall: 5m\ninterval: 5m"),
     "jobs.yaml:4:5: jobs.backup.intervall:", ["unknown key 'intervall' — did you mean 'interval'?"]),
    ("unknown-key-no-guess", job("command: x\ninterval: 5m\nfrobnicate: 1"),
     "jobs.yaml:5:5: jobs.backup.frobnicate: unknown key 'frobnicate'", []),  # too many to list
    ("two-triggers", job("command: x\ncron: '* * * * *'\ninterval: 5m"),
     "jobs.yaml:2:3: jobs.backup:", ["give exactly one of cron, interval, date (found cron and interval)"]),
    ("no-trigger", job("command: x"),
     "jobs.yaml:2:3: jobs.backup:", ["no trigger: add one of cron, interval, date"]),
    ("two-actions", job("command: x\ncall: os:getcwd\ninterval: 5m"),
     "jobs.yaml:2:3: jobs.backup:", ["found command and call"]),
    ("no-action", job("interval: 5m"),
     "jobs.yaml:2:3: jobs.backup:", ["no action: add command or call"]),
    # --- triggers
    ("cron-garbage", job("command: x\ncron: every day"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["expected 5 fields"]),
    ("cron-never-fires", job("command: x\ncron: '0 0 30 2 *'"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["'0 0 30 2 *' never fires: February has no 30th"]),
    ("cron-bad-macro", job("command: x\ncron: '@dayly'"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["unknown macro"]),
    ("cron-field-range", job("command: x\ncron: {hour: 25}"),
     "jobs.yaml:4:18: jobs.backup.cron.hour:", ["'25' is out of range 0-23"]),
    ("cron-field-unknown", job("command: x\ncron: {hours: 2}"),
     "jobs.yaml:4:12: jobs.backup.cron.hours:", ["did you mean 'hour'?"]),
    ("cron-field-job-key", job("command: x\ncron: {hour: 2, timezone: UTC}"),
     "jobs.yaml:4:21: jobs.backup.cron.timezone:", ["job key: move it out of cron"]),
    ("cron-mapping-never-fires", job("command: x\ncron: {month: 2, day: 30}"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["never fires"]),
    ("cron-empty-mapping", job("command: x\ncron: {}"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["empty"]),
    ("interval-words", job("command: x\ninterval: 5 minutes"),
     "jobs.yaml:4:15: jobs.backup.interval:", ["'5 minutes' is not a duration (try 5m)"]),
    ("interval-zero", job("command: x\ninterval: 0s"),
     "jobs.yaml:4:15: jobs.backup.interval:", ["interval must be longer than 0"]),
    ("interval-all-zero", job("command: x\ninterval: {hours: 0}"),
     "jobs.yaml:4:15: jobs.backup.interval:", ["longer than 0"]),
    ("interval-unit", job("command: x\ninterval: {hour: 1}"),
     "jobs.yaml:4:16: jobs.backup.interval.hour:", ["did you mean 'hours'?"]),
    ("interval-negative", job("command: x\ninterval: {hours: -1}"),
     "jobs.yaml:4:23: jobs.backup.interval.hours:", ["0 or more"]),
    ("interval-centuries", job("command: x\ninterval: 200000w"),
     "jobs.yaml:4:15: jobs.backup.interval:", ["100 years"]),
    ("date-text", job("command: x\ndate: tomorrow"),
     "jobs.yaml:4:11: jobs.backup.date:", ["'tomorrow' is not a date/time"]),
    ("end-before-start", job("command: x\ninterval: 5m\nstart_date: 2026-06-01\nend_date: 2026-01-01"),
     "jobs.yaml:6:15: jobs.backup.end_date:", ["is before start_date"]),
    ("date-with-jitter", job("command: x\ndate: 2026-12-01\njitter: 5s"),
     "jobs.yaml:5:5: jobs.backup.jitter:", ["does not apply to a date trigger"]),
    # --- options
    ("unknown-timezone", job("command: x\ninterval: 5m\ntimezone: Europe/Berln"),
     "jobs.yaml:5:15: jobs.backup.timezone:", ["unknown timezone 'Europe/Berln' — did you mean 'Europe/Berlin'?"]),
    ("timezone-case", "timezone: europe/berlin\njobs: {}\n",
     "jobs.yaml:1:11: timezone:", ["did you mean 'Europe/Berlin'?"]),
    ("timezone-nonsense", "timezone: Nowhere/Atlantis\njobs: {}\n",
     "jobs.yaml:1:11: timezone:", ["unknown timezone 'Nowhere/Atlantis'"]),
    ("not-a-bool", job("command: x\ninterval: 5m\npaused: yes please"),
     "jobs.yaml:5:13: jobs.backup.paused:", ["expected true or false, got 'yes please'"]),
    ("quoted-bool", job("command: x\ninterval: 5m\ncoalesce: 'true'"),
     "jobs.yaml:5:15: jobs.backup.coalesce:", ["remove the quotes"]),
    ("max-instances-zero", job("command: x\ninterval: 5m\nmax_instances: 0"),
     "jobs.yaml:5:20: jobs.backup.max_instances:", ["whole number of 1 or more, got 0"]),
    ("max-instances-text", job("command: x\ninterval: 5m\nmax_instances: many"),
     "jobs.yaml:5:20: jobs.backup.max_instances:", ["got 'many'"]),
    ("grace-zero", job("command: x\ninterval: 5m\nmisfire_grace_time: 0"),
     "jobs.yaml:5:25: jobs.backup.misfire_grace_time:", ["none for no limit"]),
    ("jitter-negative", job("command: x\ninterval: 5m\njitter: -5s"),
     "jobs.yaml:5:13: jobs.backup.jitter:", ["negative"]),
    ("timeout-zero", job("command: x\ninterval: 5m\ntimeout: 0"),
     "jobs.yaml:5:14: jobs.backup.timeout:", ["longer than 0"]),
    ("executor-undefined", job("command: x\ninterval: 5m\nexecutor: heavy"),
     "jobs.yaml:5:15: jobs.backup.executor:", ["unknown executor 'heavy'; define it under executors"]),
    ("command-empty", job("command: ''\ninterval: 5m"),
     "jobs.yaml:3:14: jobs.backup.command:", ["empty string"]),
    ("command-empty-list", job("command: []\ninterval: 5m"),
     "jobs.yaml:3:14: jobs.backup.command:", ["list is empty"]),
    ("command-list-item", job("command: [ls, {a: 1}]\ninterval: 5m"),
     "jobs.yaml:3:19: jobs.backup.command[1]:", ["expected text, got a mapping"]),
    ("command-mapping", job("command: {run: x}\ninterval: 5m"),
     "jobs.yaml:3:14: jobs.backup.command:", ["got a mapping"]),
    ("call-syntax", job("call: os.getcwd\ninterval: 5m"),
     "jobs.yaml:3:11: jobs.backup.call:", ["'package.module:function'"]),
    ("call-no-module", job("call: no_such_module_xyz:run\ninterval: 5m"),
     "jobs.yaml:3:11: jobs.backup.call:", ["cannot import 'no_such_module_xyz:run'", "No module named"]),
    ("call-no-attribute", job("call: os:no_such_function\ninterval: 5m"),
     "jobs.yaml:3:11: jobs.backup.call:", ["cannot import", "no_such_function"]),
    ("call-not-callable", job("call: os:sep\ninterval: 5m"),
     "jobs.yaml:3:11: jobs.backup.call:", ["is a str, not a function"]),
    ("args-not-list", job("call: os:getcwd\nargs: {a: 1}\ninterval: 5m"),
     "jobs.yaml:4:11: jobs.backup.args:", ["expected a list"]),
    ("kwargs-not-mapping", job("call: os:getcwd\nkwargs: [1]\ninterval: 5m"),
     "jobs.yaml:4:13: jobs.backup.kwargs:", ["expected a mapping"]),
    ("args-with-command", job("command: x\nargs: [1]\ninterval: 5m"),
     "jobs.yaml:4:5: jobs.backup.args:", ["only for call: jobs"]),
    ("env-with-call", job("call: os:getcwd\nenv: {A: b}\ninterval: 5m"),
     "jobs.yaml:4:5: jobs.backup.env:", ["only to command: jobs"]),
    ("env-bad-name", job("command: x\ninterval: 5m\nenv: {1PATH: a}"),
     "jobs.yaml:5:11: jobs.backup.env.1PATH:", ["is not a variable name"]),
    ("env-null-value", job("command: x\ninterval: 5m\nenv: {A: }"),
     "jobs.yaml:5:11: jobs.backup.env.A:", ["got null", "''"]),
    ("env-list", job("command: x\ninterval: 5m\nenv: [A=b]"),
     "jobs.yaml:5:10: jobs.backup.env:", ["expected a mapping of variable names"]),
    ("cwd-empty", job("command: x\ninterval: 5m\ncwd: ''"),
     "jobs.yaml:5:10: jobs.backup.cwd:", ["expected a directory"]),
    ("description-mapping", job("command: x\ninterval: 5m\ndescription: {a: b}"),
     "jobs.yaml:5:18: jobs.backup.description:", ["expected text, got a mapping"]),
    # --- running commands
    ("shell-empty", job("command: x\ninterval: 5m\nshell: ''"),
     "jobs.yaml:5:12: jobs.backup.shell:", ["expected the path of a shell"]),
    ("shell-with-argv", job("command: [ls, -l]\ninterval: 5m\nshell: /bin/bash"),
     "jobs.yaml:5:5: jobs.backup.shell:", ["only to a one-line command", "without a shell"]),
    ("shell-with-call", job("call: os:getcwd\ninterval: 5m\nshell: /bin/bash"),
     "jobs.yaml:5:5: jobs.backup.shell:", ["shell applies only to command: jobs"]),
    ("env-file-list", job("command: x\ninterval: 5m\nenv_file: [a, b]"),
     "jobs.yaml:5:15: jobs.backup.env_file:", ["expected the path of a file of KEY=VALUE lines"]),
    ("kill-grace-words", job("command: x\ninterval: 5m\nkill_grace: 10 seconds"),
     "jobs.yaml:5:17: jobs.backup.kill_grace:", ["'10 seconds' is not a duration (try 10s)"]),
    ("kill-grace-with-call", job("call: os:getcwd\ninterval: 5m\nkill_grace: 5s"),
     "jobs.yaml:5:5: jobs.backup.kill_grace:", ["only to command: jobs"]),
    # --- crontab habits: each gets what to write instead
    ("cron-unquoted-star", job("command: x\ncron: */15 * * * *"), "jobs.yaml:4:12: invalid YAML:",
     ["quoted", 'write cron: "*/15 * * * *"']),
    ("cron-unquoted-macro", job("command: x\ncron: @daily  # nightly"),
     "jobs.yaml:4:11: invalid YAML:", ['write cron: "@daily"']),
    ("cron-unquoted-flow", "jobs:\n  a: {command: x, cron: @hourly}\n", "jobs.yaml:2:25: invalid YAML:",
     ['write cron: "@hourly"']),
    ("backslash-percent", job('command: "date +\\%Y-\\%m"\ncron: "@daily"'),
     "jobs.yaml:3:21: invalid YAML:", ["a % needs no backslash", 'write command: "date +%Y-%m"']),
    ("backslash-other", job('command: "grep \\d"\ncron: "@daily"'), "jobs.yaml:3:20: invalid YAML:",
     ["write \\\\ or use single quotes"]),
    ("pasted-system-line", job('command: x\ncron: "17 * * * * root cd / && run-parts /etc/cron.hourly"'),
     "jobs.yaml:4:11: jobs.backup.cron:",
     ["'root' is its user column", 'Write cron: "17 * * * *" and command: cd / && run-parts']),
    ("pasted-user-column-only", job('command: x\ncron: "17 * * * * root"'),
     "jobs.yaml:4:11: jobs.backup.cron:", ['\'root\' is its user column. Write cron: "17 * * * *"']),
    ("pasted-user-line", job('command: x\ncron: "@daily /usr/bin/backup --all"'),
     "jobs.yaml:4:11: jobs.backup.cron:",
     ['is a whole crontab line', 'Write cron: "@daily" and command: /usr/bin/backup --all']),
    ("six-fields-bad-weekday", job('command: x\ncron: "0 17 * * * bogus"'),
     "jobs.yaml:4:11: jobs.backup.cron:", ["day-of-week 'BOGUS' is not a number or a name"]),
    ("stdin-with-call", job("call: os:getcwd\ninterval: 5m\nstdin: hello"),
     "jobs.yaml:5:5: jobs.backup.stdin:", ["only to command: jobs"]),
    ("stdin-mapping", job("command: x\ninterval: 5m\nstdin: {a: b}"),
     "jobs.yaml:5:12: jobs.backup.stdin:", ["expected the text to give the command on stdin"]),
    ("output-unknown", job("command: x\ninterval: 5m\noutput: logs"),
     "jobs.yaml:5:13: jobs.backup.output:", ["unknown output mode 'logs' — did you mean 'log'?"]),
    ("output-no-guess", job("command: x\ninterval: 5m\noutput: verbose"),
     "jobs.yaml:5:13: jobs.backup.output:", ["(expected one of: log, inherit, discard)"]),
    ("output-with-call", job("call: os:getcwd\ninterval: 5m\noutput: discard"),
     "jobs.yaml:5:5: jobs.backup.output:", ["only to command: jobs"]),
    ("output-limit-words", job("command: x\ninterval: 5m\noutput_limit: 64 kilobytes"),
     "jobs.yaml:5:19: jobs.backup.output_limit:", ["such as 65536, 64k or 1m", "'64 kilobytes'"]),
    ("output-limit-negative", job("command: x\ninterval: 5m\noutput_limit: -1"),
     "jobs.yaml:5:19: jobs.backup.output_limit:", ["expected a size in bytes", "got -1"]),
    ("output-limit-fraction", job("command: x\ninterval: 5m\noutput_limit: 1.5b"),
     "jobs.yaml:5:19: jobs.backup.output_limit:", ["not a whole number of bytes"]),
    ("output-limit-huge", job("command: x\ninterval: 5m\noutput_limit: 1g"),
     "jobs.yaml:5:19: jobs.backup.output_limit:", ["more than 64m", "run history"]),
    ("output-limit-with-call", job("call: os:getcwd\ninterval: 5m\noutput_limit: 1k"),
     "jobs.yaml:5:5: jobs.backup.output_limit:", ["only to command: jobs"]),
    ("overlap-typo", job("command: x\ninterval: 5m\noverlap: replce"),
     "jobs.yaml:5:14: jobs.backup.overlap:", ["unknown overlap policy 'replce' — did you mean 'replace'?"]),
    ("overlap-bool", job("command: x\ninterval: 5m\noverlap: false"),
     "jobs.yaml:5:14: jobs.backup.overlap:", ["unknown overlap policy 'false' (expected one of: skip, replace)"]),
    ("overlap-replace-call", job("call: os:getcwd\ninterval: 5m\noverlap: replace"),
     "jobs.yaml:5:5: jobs.backup.overlap:", ["overlap: replace needs a command: job"]),
    # --- retries and catch-up
    ("retries-negative", job("command: x\ninterval: 5m\nretries: -1"),
     "jobs.yaml:5:14: jobs.backup.retries:", ["whole number of 0 or more, got -1"]),
    ("retries-text", job("command: x\ninterval: 5m\nretries: three"),
     "jobs.yaml:5:14: jobs.backup.retries:", ["got 'three'"]),
    ("retries-with-call", job("call: os:getcwd\ninterval: 5m\nretries: 3"),
     "jobs.yaml:5:5: jobs.backup.retries:", ["only to command: jobs"]),
    ("retry-delay-words", job("command: x\ninterval: 5m\nretry_delay: 5 minutes"),
     "jobs.yaml:5:18: jobs.backup.retry_delay:", ["(try 5m)"]),
    ("backoff-below-one", job("command: x\ninterval: 5m\nbackoff: 0.5"),
     "jobs.yaml:5:14: jobs.backup.backoff:", ["number of 1 or more", "got 0.5"]),
    ("backoff-text", job("command: x\ninterval: 5m\nbackoff: double"),
     "jobs.yaml:5:14: jobs.backup.backoff:", ["got 'double'"]),
    ("retry-waits-overflow", job("command: x\ninterval: 5m\nbackoff: 10\nretries: 500"),
     "jobs.yaml:6:14: jobs.backup.retries:", ["backoff 10", "before retry 500", "longer than 100 years"]),
    ("catch-up-not-bool", job("command: x\ninterval: 5m\ncatch_up: sometimes"),
     "jobs.yaml:5:15: jobs.backup.catch_up:", ["expected true or false, got 'sometimes'"]),
    ("reboot-with-jitter", job("command: x\ncron: '@reboot'\njitter: 5s"),
     "jobs.yaml:5:5: jobs.backup.jitter:", ["does not apply to an @reboot job"]),
    ("reboot-with-start-date", job("command: x\ncron: '@REBOOT '\nstart_date: 2026-01-01"),
     "jobs.yaml:5:5: jobs.backup.start_date:", ["does not apply to an @reboot job"]),
    ("reboot-with-catch-up", job("command: x\ncron: '@reboot'\ncatch_up: true"),
     "jobs.yaml:5:5: jobs.backup.catch_up:", ["runs once after each boot"]),
    ("reboot-typo", job("command: x\ncron: '@rebot'"),
     "jobs.yaml:4:11: jobs.backup.cron:", ["unknown macro"]),
    # --- alerts
    ("alerts-mapping", job("command: x\ninterval: 5m\non_failure: {webhook: 'https://x.example'}"),
     "jobs.yaml:5:17: jobs.backup.on_failure:", ["expected a list of alerts, got a mapping", "'- '"]),
    ("alert-text", job("command: x\ninterval: 5m\non_failure: ['https://x.example']"),
     "jobs.yaml:5:18: jobs.backup.on_failure[0]:", ["expected an alert such as {webhook: https://...}"]),
    ("alert-two-kinds", job("command: x\ninterval: 5m\non_recovery: [{command: x, webhook: 'https://x.example'}]"),
     "jobs.yaml:5:19: jobs.backup.on_recovery[0]:", ["give exactly one of command, webhook, email, sendmail (found command and webhook)"]),
    ("alert-no-kind", job("command: x\ninterval: 5m\non_failure: [{timeout: 5s}]"),
     "jobs.yaml:5:18: jobs.backup.on_failure[0]:", ["give exactly one of command, webhook, email"]),
    ("alert-kind-typo", job("command: x\ninterval: 5m\non_failure: [{emial: x}]"),
     "jobs.yaml:5:19: jobs.backup.on_failure[0].emial:", ["unknown key 'emial' — did you mean 'email'?"]),
    ("alert-unknown-kind", job("command: x\ninterval: 5m\non_failure: [{slack: x}]"),
     "jobs.yaml:5:19: jobs.backup.on_failure[0].slack:", ["(expected one of: command, webhook, email, sendmail, timeout)"]),
    ("alert-second-item", job("command: x\ninterval: 5m\non_failure:\n  - command: x\n  - command: ''"),
     "jobs.yaml:7:18: jobs.backup.on_failure[1].command:", ["empty string"]),
    ("alert-command-timeout", job("command: x\ninterval: 5m\non_failure: [{command: x, timeout: 0}]"),
     "jobs.yaml:5:40: jobs.backup.on_failure[0].timeout:", ["longer than 0"]),
    ("webhook-ftp", job("command: x\ninterval: 5m\non_failure: [{webhook: 'ftp://x.example/t0ken'}]"),
     "jobs.yaml:5:28: jobs.backup.on_failure[0].webhook:", ["expected an http:// or https:// URL, got ftp:"]),
    ("webhook-no-host", job("command: x\ninterval: 5m\non_failure: [{webhook: 'https:///hook'}]"),
     "jobs.yaml:5:28: jobs.backup.on_failure[0].webhook:", ["the URL has no host name"]),
    ("webhook-bad-port", job("command: x\ninterval: 5m\non_failure: [{webhook: {url: 'http://x.example:99999/'}}]"),
     "jobs.yaml:5:34: jobs.backup.on_failure[0].webhook.url:", ["port is not a number from 1 to 65535"]),
    ("webhook-no-url", job("command: x\ninterval: 5m\non_failure:\n  - webhook: {timeout: 5s}"),
     "jobs.yaml:6:18: jobs.backup.on_failure[0].webhook:", ["missing url: a webhook needs url"]),
    ("webhook-unknown-key", job("command: x\ninterval: 5m\non_failure:\n  - webhook: {url: 'https://x.example', frobnicate: 1}"),
     "jobs.yaml:6:45: jobs.backup.on_failure[0].webhook.frobnicate:", ["(expected one of: url, timeout, headers)"]),
    ("webhook-timeout-outside", job("command: x\ninterval: 5m\non_failure:\n  - webhook: https://x.example\n    timeout: 5s"),
     "jobs.yaml:7:9: jobs.backup.on_failure[0].timeout:", ["goes inside it: webhook: {..., timeout: 10s}"]),
    ("webhook-header-name", job("command: x\ninterval: 5m\non_failure:\n  - webhook: {url: 'https://x.example', headers: {'X Token': a}}"),
     "jobs.yaml:6:55: jobs.backup.on_failure[0].webhook.headers.X Token:", ["not an HTTP header name"]),
    ("webhook-header-value", job("command: x\ninterval: 5m\non_failure:\n  - webhook: {url: 'https://x.example', headers: {Token: [s3cret]}}"),
     "jobs.yaml:6:62: jobs.backup.on_failure[0].webhook.headers.Token:", ["on one line, got a list"]),
    ("email-not-mapping", job("command: x\ninterval: 5m\non_failure: [{email: ops@example.com}]"),
     "jobs.yaml:5:26: jobs.backup.on_failure[0].email:", ["expected a mapping with host, from and to"]),
    ("email-without-to", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: smtp.example.com, from: a@example.com}"),
     "jobs.yaml:6:16: jobs.backup.on_failure[0].email:", ["missing to: an email alert needs host, from, to"]),
    ("email-key-typo", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: h, from: a@b.c, to: d@e.f, starttl: true}"),
     "jobs.yaml:6:50: jobs.backup.on_failure[0].email.starttl:", ["did you mean 'starttls'?"]),
    ("email-bad-port", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: h, port: 99999, from: a@b.c, to: d@e.f}"),
     "jobs.yaml:6:32: jobs.backup.on_failure[0].email.port:", ["port number from 1 to 65535, got 99999"]),
    ("email-host-with-port", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: 'smtp.example.com:587', from: a@b.c, to: d@e.f}"),
     "jobs.yaml:6:23: jobs.backup.on_failure[0].email.host:", ["host: smtp.example.com, port: 587"]),
    ("email-bad-recipient", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: h, from: a@b.c, to: [d@e.f, ops]}"),
     "jobs.yaml:6:51: jobs.backup.on_failure[0].email.to[1]:", ["'ops' is not an email address"]),
    ("email-no-recipients", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: h, from: a@b.c, to: []}"),
     "jobs.yaml:6:43: jobs.backup.on_failure[0].email.to:", ["the list of recipients is empty"]),
    ("email-password-alone", job("command: x\ninterval: 5m\non_failure:\n  - email: {host: h, from: a@b.c, to: d@e.f, password: s3cret}"),
     "jobs.yaml:6:50: jobs.backup.on_failure[0].email.password:", ["give both username and password, or neither"]),
    ("defaults-alert", "defaults:\n  on_failure: [{webhook: 'ftp://x.example'}]\njobs: {}\n",
     "jobs.yaml:2:26: defaults.on_failure[0].webhook:", ["http:// or https://"]),
    ("state-list", "state: [a]\njobs: {}\n",
     "jobs.yaml:1:8: state:", ["expected the path of the state database"]),
    # --- executors and defaults
    ("executor-type", "executors:\n  big: {type: processpoool}\njobs: {}\n",
     "jobs.yaml:2:15: executors.big.type:", ["did you mean 'processpool'?"]),
    ("executor-workers", "executors:\n  big: {max_workers: 0}\njobs: {}\n",
     "jobs.yaml:2:22: executors.big.max_workers:", ["1 or more"]),
    ("executor-key", "executors:\n  big: {workers: 2}\njobs: {}\n",
     "jobs.yaml:2:9: executors.big.workers:", ["did you mean 'max_workers'?"]),
    ("executor-not-mapping", "executors:\n  big: 4\njobs: {}\n",
     "jobs.yaml:2:8: executors.big:", ["expected a mapping"]),
    ("defaults-unknown", "defaults:\n  coalese: false\njobs: {}\n",
     "jobs.yaml:2:3: defaults.coalese:", ["did you mean 'coalesce'?"]),
    ("defaults-wrong-type", "defaults:\n  max_instances: -1\njobs: {}\n",
     "jobs.yaml:2:18: defaults.max_instances:", ["1 or more"]),
    ("missing-jobs", "timezone: UTC\n", "jobs.yaml:1:1:", ["no 'jobs' mapping"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "where", "words"), [c[1:] for c in PROBLEMS], ids=[c[0] for c in PROBLEMS]
)
def test_problem_is_reported_with_location(text: str, where: str, words: list[str]) -> None:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(where + " ") or problems[0] == where, problems[0]
    for word in words:
        assert word in problems[0]


def test_every_problem_at_once() -> None:
    path = SAMPLES / "broken.yaml"
    with pytest.raises(JobfileError) as caught:
        load_jobfile(path)
    name = str(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{name}:2:11: timezone: unknown timezone 'Europe/Berln' — did you mean 'Europe/Berlin'?",
        f"{name}:6:11: jobs.backup.cron: cron expression '0 0 30 2 *' never fires: February has no 30th",
        f"{name}:7:5: jobs.backup.intervall: unknown key 'intervall' — did you mean 'interval'?",
        f"{name}:10:15: jobs.report.interval: '5 minutes' is not a duration (try 5m)",
        f"{name}:11:13: jobs.report.paused: expected true or false, got 'yes please'",
        f"{name}:12:3: jobs.cleanup: no trigger: add one of cron, interval, date",
    ]
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    assert caught.value.exit_code == 2


def test_problem_fields() -> None:
    with pytest.raises(JobfileError) as caught:
        parse(job("command: x\ninterval: 5m\npaused: maybe"))
    assert caught.value.problems == [
        Problem("jobs.yaml", 5, 13, "jobs.backup.paused", "expected true or false, got 'maybe'")
    ]


def test_full_jobfile() -> None:
    path = SAMPLES / "full.yaml"
    jobfile = load_jobfile(path)
    assert (jobfile.path, jobfile.timezone, jobfile.state) == (
        str(path),
        "Europe/Berlin",
        "state/full.db",
    )
    assert jobfile.executors == {
        "heavy": ExecutorSpec("heavy", "processpool", 2),
        "io": ExecutorSpec("io", "threadpool", 10),
    }
    assert list(jobfile.jobs) == [
        "backup",
        "rotate-logs",
        "report",
        "launch",
        "warmup",
        "on",
        "123",
    ]
    hook = WebhookAlert("https://hooks.example.com/services/T0/B0/XXXX")
    common: dict[str, Any] = {"misfire_grace_time": 300.0, "coalesce": False}
    command_common: dict[str, Any] = {**common, "retry_delay": 30.0, "on_failure": (hook,)}
    batch_env = {"LANG": "C.UTF-8", "TIER": "batch"}
    expected = {
        "backup": JobSpec(
            id="backup",
            line=22,
            description="Nightly backup of /etc",
            command="tar czf /var/backups/etc.tgz /etc",
            trigger=TriggerSpec("cron", "30 2 * * *"),
            timezone="Europe/Berlin",
            timeout=3600.0,
            cwd="/var/backups",
            max_instances=2,
            env={"LANG": "C.UTF-8", "TIER": "critical", "RETRIES": "3"},
            shell="/bin/bash",
            env_file="/etc/schedctl/backup.env",
            kill_grace=30.0,
            output="inherit",
            output_limit=1024 * 1024,
            overlap="replace",
            retries=3,
            retry_delay=30.0,
            backoff=1.5,
            catch_up=True,
            on_failure=(
                CommandAlert(("/usr/local/bin/page", "--team", "ops"), timeout=60.0),
                CommandAlert('logger -t schedctl "backup failed"'),
                WebhookAlert(
                    "https://alerts.example.com/hook",
                    timeout=5.0,
                    headers={"Authorization": "Bearer abc123"},
                ),
                EmailAlert(
                    host="smtp.example.com",
                    port=587,
                    starttls=True,
                    username="alerts",
                    password="hunter2",
                    from_addr="Schedctl <schedctl@example.com>",
                    to=("ops@example.com", "oncall@example.com"),
                ),
            ),
            on_recovery=(
                EmailAlert(
                    host="smtp.example.com",
                    from_addr="schedctl@example.com",
                    to=("ops@example.com",),
                ),
            ),
            **common,
        ),
        "rotate-logs": JobSpec(
            id="rotate-logs",
            line=60,
            command=("logrotate", "--verbose", "/etc/logrotate.conf"),
            trigger=TriggerSpec("cron", {"hour": "3", "minute": "15", "day_of_week": "mon-fri"}),
            timezone="UTC",
            jitter=90.0,
            start_date=datetime(2026, 1, 1),
            end_date=datetime(2027, 1, 1),
            executor="heavy",
            env=batch_env,
            output="discard",
            output_limit=0,
            **command_common,
        ),
        "report": JobSpec(
            id="report",
            line=71,
            call="os.path:join",
            args=("/tmp", "report.txt"),
            trigger=TriggerSpec("interval", 5400.0),
            timezone="Europe/Berlin",
            misfire_grace_time=None,
            coalesce=False,
            paused=True,
            on_failure=(hook,),  # alerts apply to calls too; retry_delay does not
        ),
        "launch": JobSpec(
            id="launch",
            line=79,
            command="/usr/local/bin/launch",
            trigger=TriggerSpec("date", datetime(2026, 12, 1, 9, 0)),
            timezone="Europe/Berlin",
            executor="io",
            env=batch_env,
            **command_common,
        ),
        "warmup": JobSpec(
            id="warmup",
            line=84,
            command="/usr/local/bin/warm-caches",
            trigger=TriggerSpec("reboot", "@reboot"),
            timezone="Europe/Berlin",
            env=batch_env,
            **{**command_common, "on_failure": ()},  # its own empty list turns the default off
        ),
        "on": JobSpec(
            id="on",
            line=89,
            command="true",
            trigger=TriggerSpec("interval", 90.0),
            timezone="Europe/Berlin",
            env=batch_env,
            **command_common,
        ),
        "123": JobSpec(
            id="123",
            line=93,
            command="echo numbered",
            trigger=TriggerSpec("cron", "0 0 * * *"),
            timezone="Europe/Berlin",
            env=batch_env,
            **command_common,
        ),
    }
    assert jobfile.jobs == expected


def test_built_triggers() -> None:
    from schedctl.triggers.cron import CronTrigger
    from schedctl.triggers.date import DateTrigger
    from schedctl.triggers.interval import IntervalTrigger

    jobs = load_jobfile(SAMPLES / "full.yaml").jobs
    timed = {job_id: spec for job_id, spec in jobs.items() if spec.trigger.kind != "reboot"}
    kinds = {job_id: type(spec.build_trigger()) for job_id, spec in timed.items()}
    assert kinds == {
        "backup": CronTrigger,
        "rotate-logs": CronTrigger,
        "report": IntervalTrigger,
        "launch": DateTrigger,
        "on": IntervalTrigger,
        "123": CronTrigger,
    }
    rotate = jobs["rotate-logs"].build_trigger()
    assert isinstance(rotate, CronTrigger) and str(rotate.timezone) == "UTC"
    with pytest.raises(ValueError, match="'warmup' runs @reboot: it has no time trigger"):
        jobs["warmup"].build_trigger()


def test_default_timezone_applies_when_the_job_has_none() -> None:
    spec = parse(job("command: x\ncron: '0 9 * * *'")).jobs["backup"]
    assert spec.timezone is None
    trigger = spec.build_trigger("Asia/Tokyo")
    after = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def test_defaults_merge_under_each_job() -> None:
    jobfile = parse(
        """
        defaults:
          cron: "0 * * * *"
          command: /bin/default
          args: [/tmp, x]
          misfire_grace_time: 1m
          max_instances: 3
          env: {A: default, B: default}
        jobs:
          inherits: {}
          overrides:
            command: /bin/own
            interval: 5m
            max_instances: 1
            env: {B: own, C: own}
          calls:
            call: os.path:join
        """
    )
    inherits, overrides, calls = (jobfile.jobs[name] for name in ("inherits", "overrides", "calls"))
    assert (inherits.command, inherits.trigger) == (
        "/bin/default",
        TriggerSpec("cron", "0 * * * *"),
    )
    assert (inherits.max_instances, inherits.misfire_grace_time) == (3, 60.0)
    assert inherits.args == ()  # args mean nothing to a command: the default is dropped
    assert inherits.env == {"A": "default", "B": "default"}
    assert (overrides.command, overrides.trigger) == ("/bin/own", TriggerSpec("interval", 300.0))
    assert overrides.max_instances == 1
    assert overrides.env == {"A": "default", "B": "own", "C": "own"}
    assert (calls.call, calls.command, calls.args) == ("os.path:join", None, ("/tmp", "x"))
    assert calls.env == {}  # env means nothing to a call: the default is dropped


def test_every_job_key_is_a_jobspec_field_or_a_trigger() -> None:
    """The cron check tells a misplaced job key from a cron typo by JobSpec's fields."""
    assert JOB_KEY_NAMES == set(keys.JOB_KEYS)


def test_jobspec_defaults_are_cron_friendly() -> None:
    spec = parse(job("command: x\ncron: '* * * * *'")).jobs["backup"]
    assert (spec.misfire_grace_time, spec.coalesce, spec.max_instances, spec.paused) == (
        60.0,
        True,
        1,
        False,
    )
    assert (spec.executor, spec.env, spec.args, spec.kwargs) == ("default", {}, (), {})
    assert (spec.overlap, spec.retries, spec.retry_delay, spec.backoff, spec.catch_up) == (
        "skip",
        0,
        10.0,
        2.0,
        False,
    )
    assert (spec.on_failure, spec.on_recovery, spec.env_file) == ((), (), None)


def test_command_defaults_are_the_runners() -> None:
    spec = parse(job("command: x\ncron: '* * * * *'")).jobs["backup"]
    runner = CommandSpec("x")
    names = ("shell", "kill_grace", "output", "output_limit")
    assert {n: getattr(spec, n) for n in names} == {n: getattr(runner, n) for n in names}


def test_alerts_in_defaults_apply_to_every_job_unless_replaced() -> None:
    jobfile = parse(
        """
        defaults:
          on_failure: [{webhook: "https://hooks.example.com/default"}]
          on_recovery: [{command: "echo ok"}]
        jobs:
          inherits: {command: x, interval: 5m}
          calls: {call: os:getcwd, interval: 5m}
          replaces:
            command: x
            interval: 5m
            on_failure:
              - webhook: {url: "https://hooks.example.com/own", timeout: 2s}
          silenced: {command: x, interval: 5m, on_failure: [], on_recovery: }
        """
    )
    default = (WebhookAlert("https://hooks.example.com/default"),)
    inherits, calls, replaces, silenced = jobfile.jobs.values()
    assert inherits.on_failure == calls.on_failure == default
    assert inherits.on_recovery == (CommandAlert("echo ok"),)
    assert replaces.on_failure == (WebhookAlert("https://hooks.example.com/own", timeout=2.0),)
    assert (silenced.on_failure, silenced.on_recovery) == ((), ())


def test_command_options_in_defaults_skip_call_jobs() -> None:
    jobfile = parse(
        """
        defaults: {shell: /bin/bash, retries: 2, overlap: replace, output: discard}
        jobs:
          runs: {command: x, interval: 5m}
          argv: {command: [ls, -l], interval: 5m}
          calls: {call: os:getcwd, interval: 5m}
        """
    )
    runs, argv, calls = jobfile.jobs.values()
    assert (runs.shell, runs.retries, runs.overlap, runs.output) == (
        "/bin/bash",
        2,
        "replace",
        "discard",
    )
    assert argv.shell == "/bin/sh"  # a list runs without a shell: the default does not apply
    assert (calls.shell, calls.retries, calls.overlap, calls.output) == (
        "/bin/sh",
        0,
        "skip",
        "log",
    )


def test_reboot_is_its_own_trigger_kind() -> None:
    spec = spec_of("command: x\ncron: ' @Reboot '\ncoalesce: false")
    assert spec.trigger == TriggerSpec("reboot", "@reboot")
    assert spec.trigger_hash() != spec_of("command: x\ncron: '@daily'").trigger_hash()


SIZES = [
    ("number", 65536, 65536),
    ("zero", 0, 0),
    ("text-number", "512", 512),
    ("bytes", "512b", 512),
    ("kilo", "64k", 65536),
    ("kilo-upper", "64K", 65536),
    ("kib", "64KiB", 65536),
    ("kb", "64kb", 65536),
    ("mega-fraction", "1.5m", 1572864),
    ("spaces", " 2 m ", 2097152),
    ("giga", "1g", 1024**3),
]


@pytest.mark.parametrize(("value", "size"), [s[1:] for s in SIZES], ids=[s[0] for s in SIZES])
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    "value", ["64 kilobytes", "1.5", "-1", "k", "", "1t", -1, 1.5, True, None, [64]]
)
def test_parse_size_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="size|bytes"):
        parse_size(value)


def test_repr_hides_secrets() -> None:
    spec = spec_of(
        """
        command: x
        interval: 5m
        env: {API_TOKEN: tok-env}
        on_failure:
          - webhook: {url: "https://hooks.example.com/T0/tok-url", headers: {X-Token: tok-header}}
          - email: {host: h, from: a@b.c, to: d@e.f, username: u, password: tok-password}
        """
    )
    shown = repr(spec)
    assert "API_TOKEN" in shown and "X-Token" in shown and "hooks.example.com" in shown
    assert "tok-" not in shown


def test_yaml_11_words_are_read_as_written() -> None:
    jobfile = parse(
        """
        jobs:
          on: {command: x, cron: 0 0 * * *, description: no}
          off: {command: true, interval: 1m}
          yes: {command: [sleep, 5], interval: 1m, env: {PORT: 080, DEBUG: yes, RATIO: 1.50}}
          2026-01-01: {command: x, interval: 1m}
          0x1F: {command: x, interval: 1m}
        """
    )
    assert list(jobfile.jobs) == ["on", "off", "yes", "2026-01-01", "0x1F"]
    on, off, yes = jobfile.jobs["on"], jobfile.jobs["off"], jobfile.jobs["yes"]
    assert (on.trigger.value, on.description) == ("0 0 * * *", "no")
    assert off.command == "true"
    assert yes.command == ("sleep", "5")
    assert yes.env == {"PORT": "080", "DEBUG": "yes", "RATIO": "1.50"}


def test_merge_keys_share_settings_and_own_keys_win() -> None:
    jobfile = parse(
        """
        jobs:
          first: &common
            command: x
            interval: 5m
            max_instances: 2
          second:
            <<: *common
            max_instances: 4
        """
    )
    assert jobfile.jobs["second"].max_instances == 4
    assert jobfile.jobs["second"].trigger == TriggerSpec("interval", 300.0)


def test_alias_bomb_is_refused() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
    lines.append("jobs: {}")
    with pytest.raises(JobfileError, match="alias bomb"):
        parse_jobfile("\n".join(lines), "jobs.yaml")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(JobfileError, match="nest"):
        parse_jobfile("jobs: " + "[" * 500 + "]" * 500, "jobs.yaml")


def test_oversized_text_is_refused() -> None:
    with pytest.raises(JobfileError, match="the limit is 1 MiB"):
        parse_jobfile("#" * (MAX_BYTES + 1), "jobs.yaml")


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    with path.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: no 50 MB written
    with pytest.raises(JobfileError) as caught:
        load_jobfile(path)
    assert str(caught.value) == f"{path}: the jobfile is 50.0 MiB; the limit is 1 MiB"


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"jobs:\n  caf\xe9: {}\n")
    with pytest.raises(JobfileError) as caught:
        load_jobfile(path)
    assert str(caught.value).startswith(f"{path}:2:6: byte 0xe9 is not UTF-8")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_bytes("\ufeffjobs: {a: {command: x, interval: 1m}}\n".encode())
    assert list(load_jobfile(path).jobs) == ["a"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobfileError, match="cannot read the jobfile: No such file"):
        load_jobfile(tmp_path / "nope.yaml")


def test_imports_can_be_skipped() -> None:
    spec = parse(job("call: no_such_module_xyz:run\ninterval: 5m"), check_imports=False)
    assert spec.jobs["backup"].call == "no_such_module_xyz:run"


def test_empty_jobs_are_allowed() -> None:
    assert parse("jobs:\n").jobs == {}
    assert parse("jobs: {}\n").jobs == {}


# --- hashes: what sync compares


def spec_of(body: str) -> JobSpec:
    return parse(job(body)).jobs["backup"]


BASE = "command: x\ncron: '0 2 * * *'\nenv: {A: b}"
SAME_DEFINITION = [
    ("moved-down", "\n" + BASE),
    ("reordered", "env: {A: b}\ncron: '0 2 * * *'\ncommand: x"),
    ("defaults-spelled-out", BASE + "\nmax_instances: 1\ncoalesce: true"),
    (
        "new-defaults-spelled-out",
        BASE + "\nretries: 0\noverlap: skip\noutput_limit: 64k\nshell: /bin/sh",
    ),
]


@pytest.mark.parametrize(
    "body", [b for _, b in SAME_DEFINITION], ids=[i for i, _ in SAME_DEFINITION]
)
def test_definition_hash_ignores_layout(body: str) -> None:
    assert spec_of(body).definition_hash() == spec_of(BASE).definition_hash()


CHANGES = [
    # (id, changed body, whether the trigger changed)
    ("env-value", "command: x\ncron: '0 2 * * *'\nenv: {A: c}", False),
    ("command", "command: y\ncron: '0 2 * * *'\nenv: {A: b}", False),
    ("paused", BASE + "\npaused: true", False),
    ("cron", "command: x\ncron: '0 3 * * *'\nenv: {A: b}", True),
    ("timezone", BASE + "\ntimezone: UTC", True),
    ("jitter", BASE + "\njitter: 1m", True),
    ("end-date", BASE + "\nend_date: 2030-01-01", True),
    ("reboot", "command: x\ncron: '@reboot'\nenv: {A: b}", True),
    ("shell", BASE + "\nshell: /bin/bash", False),
    ("stdin", BASE + "\nstdin: hello", False),
    ("stdin-empty", BASE + "\nstdin: ''", False),
    ("output-limit", BASE + "\noutput_limit: 1k", False),
    ("overlap", BASE + "\noverlap: replace", False),
    ("retries", BASE + "\nretries: 2", False),
    ("catch-up", BASE + "\ncatch_up: true", False),
    ("on-failure", BASE + "\non_failure: [{command: page-me}]", False),
    ("alert-timeout", BASE + "\non_failure: [{command: page-me, timeout: 5s}]", False),
    (
        "alert-password",
        BASE
        + "\non_recovery: [{email: {host: h, from: a@b.c, to: d@e.f, username: u, password: p2}}]",
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "trigger_changed"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_hashes_tell_what_changed(body: str, trigger_changed: bool) -> None:
    before, after = spec_of(BASE), spec_of(body)
    assert before.definition_hash() != after.definition_hash()
    assert (before.trigger_hash() != after.trigger_hash()) is trigger_changed


def test_a_job_without_stdin_keeps_the_hash_it_had_before_the_key_existed() -> None:
    """Else upgrading would count every stored job as changed. Computed before ``stdin``."""
    expected = "2d8b0605399dd2913da65611bb8241b829736caa83a06075b6e8f92090c42d6e"
    assert spec_of(BASE).definition_hash() == expected


@pytest.mark.parametrize(
    ("written", "text"),
    [("stdin: |-\n  one\n    two %\n", "one\n  two %"), ("stdin: |\n  one\ntimeout: 5m", "one\n"),
     ("stdin: 080", "080"), ("stdin: ''", ""), ("stdin:", None)],
    ids=["block-strip", "block-clip", "plain-as-written", "empty", "null"],
)
def test_stdin_is_kept_exactly(written: str, text: str | None) -> None:
    body = "command: cat\ninterval: 5m\n" + written
    assert spec_of(body).stdin == text


def test_equivalent_intervals_hash_alike() -> None:
    spellings = ["90m", "1h30m", "5400", "{hours: 1, minutes: 30}"]
    hashes = {spec_of(f"command: x\ninterval: {s}").trigger_hash() for s in spellings}
    assert len(hashes) == 1


def test_hashes_are_hex_sha256() -> None:
    spec = spec_of(BASE)
    assert len(spec.definition_hash()) == 64 and int(spec.definition_hash(), 16) >= 0
    assert spec.definition_hash() == spec_of(BASE).definition_hash()


# --- where the state lives


def test_default_state_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = default_state_path(tmp_path / "jobs.yaml")
    assert path.parent == tmp_path / "state" / "schedctl"
    assert path.name.startswith("jobs-") and path.suffix == ".db"
    assert default_state_path(tmp_path / "other" / "jobs.yaml") != path
    monkeypatch.chdir(tmp_path)
    assert default_state_path("jobs.yaml") == path


@pytest.mark.parametrize("xdg", [None, "relative/dir"], ids=["unset", "relative-ignored"])
def test_default_state_path_without_usable_xdg_is_in_the_password_databases_home(
    xdg: str | None, unix_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As under a ``sudo`` that keeps the caller's ``HOME``: root's state stays in root's
    home, not in the home of the user who called sudo (where it would be refused)."""
    monkeypatch.setenv("HOME", unix_user.home)
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", xdg)
    own_home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    assert own_home != Path(unix_user.home)
    assert default_state_path("/etc/jobs.yaml").parent == own_home / ".local" / "state" / "schedctl"


STATE_PRECEDENCE = [
    # (id, --state, $SCHEDCTL_STATE, jobfile state:, expected; "<default>" = default_state_path)
    ("cli-wins", "/cli.db", "/env.db", "/file.db", "/cli.db"),
    ("env-next", None, "/env.db", "/file.db", "/env.db"),
    ("jobfile-next", None, None, "/file.db", "/file.db"),
    ("jobfile-relative", None, None, "state/x.db", "/srv/jobs/state/x.db"),
    ("default-last", None, None, None, "<default>"),
    ("empty-env-ignored", None, "", None, "<default>"),
]


@pytest.mark.parametrize(
    ("cli", "env", "written", "expected"),
    [c[1:] for c in STATE_PRECEDENCE],
    ids=[c[0] for c in STATE_PRECEDENCE],
)
def test_resolve_state_precedence(
    cli: str | None,
    env: str | None,
    written: str | None,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is None:
        monkeypatch.delenv("SCHEDCTL_STATE", raising=False)
    else:
        monkeypatch.setenv("SCHEDCTL_STATE", env)
    jobfile = Jobfile(path="/srv/jobs/jobs.yaml", state=written)
    want = default_state_path(jobfile.path) if expected == "<default>" else Path(expected)
    assert resolve_state(cli, jobfile) == want


PG = "postgresql://sched@db.example/jobs"


@pytest.mark.parametrize(("cli", "env", "written"), [
    (PG, "/env.db", "/file.db"), (None, PG, "/file.db"), (None, None, PG),
], ids=["cli", "env", "jobfile"])
def test_a_postgresql_state_is_kept_as_a_url(
    cli: str | None, env: str | None, written: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("SCHEDCTL_STATE", raising=False)
    else:
        monkeypatch.setenv("SCHEDCTL_STATE", env)
    # Not a Path: 'postgresql://' would lose a slash, and relative-to-the-jobfile makes no sense.
    assert resolve_state(cli, Jobfile(path="/srv/jobs/jobs.yaml", state=written)) == PG


def test_cluster_and_on_orphan_are_read() -> None:
    jobfile = parse(f"""\
state: {PG}
cluster:
  node: web-1
  lease: 1m
jobs:
  backup:
    command: "true"
    cron: "0 3 * * *"
    on_orphan: rerun
""")
    assert (jobfile.state, jobfile.cluster.node, jobfile.cluster.lease) == (PG, "web-1", 60.0)
    assert jobfile.jobs["backup"].on_orphan == "rerun"
    defaults = parse('jobs:\n  b:\n    command: "true"\n    interval: 1m\n')
    assert (defaults.cluster.node, defaults.cluster.lease) == (None, 30.0)
    assert defaults.jobs["b"].on_orphan == "fail"


@pytest.mark.parametrize(("section", "words"), [
    ("cluster:\n  node: a/b", [":2:", "cluster.node", "'/'"]),
    ("cluster:\n  lease: 500ms", [":2:", "cluster.lease", "under 1s"]),
    ("cluster:\n  leese: 30s", [":2:", "cluster.leese", "did you mean 'lease'"]),
    ("cluster: [a]", [":1:", "cluster", "mapping"]),
    ("state: mysql://db/x", [":1:", "state", "postgresql://"]),
])
def test_bad_cluster_settings_are_located(section: str, words: list[str]) -> None:
    text = section + '\njobs:\n  b:\n    command: "true"\n    interval: 1m\n'
    [problem] = problems_of(text)
    for word in words:
        assert word in problem, problem


def test_a_bad_orphan_policy_is_located() -> None:
    [problem] = problems_of(job("""
        command: "true"
        interval: 1m
        on_orphan: retry
    """))
    assert ":5:" in problem and "on_orphan" in problem and "rerun" in problem, problem


# --- nothing but JobfileError, whatever the input

KEYS = [
    "jobs",
    "defaults",
    "executors",
    "timezone",
    "state",
    "backup",
    "command",
    "call",
    "cron",
    "interval",
    "date",
    "env",
    "args",
    "kwargs",
    "jitter",
    "type",
    "max_workers",
    "hour",
    "on",
    "webhook",
    "email",
    "url",
    "host",
    "from",
    "to",
    "headers",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "5m",
            "0 0 * * *",
            "2026-02-30",
            "Europe/Berlin",
            "os:getcwd",
            "-1",
            "@daily",
            "@reboot",
            "https://x.example/h",
            "a@b.c",
            "64k",
            "replace",
        ]
    ),
    st.datetimes(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=30,
)


JOB_KEYS = [
    "description",
    "command",
    "call",
    "args",
    "kwargs",
    "cron",
    "interval",
    "date",
    "timezone",
    "start_date",
    "end_date",
    "jitter",
    "executor",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "paused",
    "env",
    "cwd",
    "timeout",
    "shell",
    "env_file",
    "kill_grace",
    "output",
    "output_limit",
    "overlap",
    "retries",
    "retry_delay",
    "backoff",
    "catch_up",
    "on_failure",
    "on_recovery",
]
small_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(KEYS), c, max_size=3),
    max_leaves=6,
)
jobs = st.dictionaries(st.sampled_from(JOB_KEYS), small_values, max_size=6)
jobfiles = st.fixed_dictionaries(
    {"jobs": st.dictionaries(st.text(min_size=1, max_size=6), jobs, max_size=3)},
    optional={
        "defaults": jobs,
        "timezone": small_values,
        "state": small_values,
        "executors": st.dictionaries(st.text(max_size=5), small_values, max_size=2),
    },
)


def parses_or_explains(text: str | bytes) -> None:
    try:
        result = parse_jobfile(text, "fuzz.yaml", check_imports=False)
    except JobfileError as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
    else:
        assert isinstance(result, Jobfile)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_yaml_documents(document: object) -> None:
    parses_or_explains(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobfiles)
def test_random_jobfiles(document: dict[str, object]) -> None:
    parses_or_explains(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=list("jobs: -[]{}&*!|>'\"#%@,?\n\t 0aZ~<=\\"), max_size=80)
    | st.text(max_size=80)
)
def test_random_text(text: str) -> None:
    parses_or_explains(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes(data: bytes) -> None:
    parses_or_explains(data)
