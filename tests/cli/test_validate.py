"""Jobfile validation as the command line reports it: ``jobs.yaml:12:5: jobs.backup.cron: ...``,
every problem at once, exit code 2, no traceback, and the state file untouched."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap

import pytest
from click.testing import CliRunner

from schedctl.cli import main
from tests.cli.helpers import as_json, file_bytes, read_runs, wait_until

LOCATED = re.compile(r"^jobs\.yaml:(\d+):(\d+): (?:(\S+): )?(.+)$")

#: (jobfile, [(line, column, key path, message fragment)]): one row per kind of mistake.
CASES = {
    "yaml-syntax": ("""
        jobs:
          a:
            command: [echo
            interval: 1m
        """, [(4, 13, None, "invalid YAML: did not find expected ',' or ']'")]),
    "tab-indent": ("jobs:\n\ta: 1\n", [(2, 1, None, "indent with spaces, YAML does not allow tabs")]),
    "empty-file": ("", [(1, 1, None, "the jobfile is empty; it needs a 'jobs' mapping")]),
    "two-documents": ("""
        jobs: {}
        ---
        jobs: {}
        """, [(2, 1, None, "more than one YAML document")]),
    "duplicate-key": ("""
        jobs:
          backup:
            command: echo a
            command: echo b
            interval: 1m
        """, [(4, 5, "jobs.backup.command", "duplicate key 'command' (first given on line 3)")]),
    "duplicate-job": ("""
        jobs:
          backup: {command: echo a, interval: 1m}
          backup: {command: echo b, interval: 1m}
        """, [(3, 3, "jobs.backup", "duplicate key 'backup' (first given on line 2)")]),
    "unknown-key": ("""
        jobs:
          backup:
            comand: echo
            interval: 1m
        """, [(2, 3, "jobs.backup", "no action: add command or call"),
              (3, 5, "jobs.backup.comand", "unknown key 'comand' — did you mean 'command'?")]),
    "unknown-top-key": ("""
        jobz: {}
        jobs: {}
        """, [(1, 1, "jobz", "unknown key 'jobz' — did you mean 'jobs'?")]),
    "wrong-type-count": ("""
        jobs:
          backup:
            command: echo
            interval: 1m
            max_instances: many
        """, [(5, 20, "jobs.backup.max_instances", "expected a whole number of 1 or more, got 'many'")]),
    "wrong-type-list": ("""
        jobs:
          backup:
            command: echo
            interval: [1, 2]
        """, [(4, 15, "jobs.backup.interval",
               "expected a duration such as 90s, 5m or 1h30m, got a list")]),
    "wrong-type-mapping": ("""
        jobs:
          backup:
            command: echo
            interval: 1m
            timeout: {minutes: 5}
        """, [(5, 14, "jobs.backup.timeout",
               "expected a duration such as 90s, 5m or 1h30m, got a mapping")]),
    "not-a-duration": ("""
        jobs:
          backup:
            command: echo
            interval: 5 minutes
        """, [(4, 15, "jobs.backup.interval", "'5 minutes' is not a duration (try 5m)")]),
    "two-triggers": ("""
        jobs:
          backup:
            command: echo
            cron: "* * * * *"
            interval: 5m
        """, [(2, 3, "jobs.backup", "give exactly one of cron, interval, date (found cron and interval)")]),
    "no-trigger": ("""
        jobs:
          backup:
            command: echo
        """, [(2, 3, "jobs.backup", "no trigger: add one of cron, interval, date")]),
    "cron-out-of-range": ("""
        jobs:
          backup:
            command: echo
            cron: "61 * * * *"
        """, [(4, 11, "jobs.backup.cron", "minute 61 is out of range 0-59")]),
    "cron-never-fires": ("""
        jobs:
          backup:
            command: echo
            cron: "0 0 30 2 *"
        """, [(4, 11, "jobs.backup.cron", "never fires: February has no 30th")]),
    "impossible-date": ("""
        jobs:
          backup:
            command: echo
            date: 2026-02-30 10:00
        """, [(4, 11, "jobs.backup.date", "is not a valid date/time: day is out of range for month")]),
    "end-before-start": ("""
        jobs:
          backup:
            command: echo
            interval: 1h
            start_date: 2026-05-01
            end_date: 2026-04-01
        """, [(6, 15, "jobs.backup.end_date", "is before start_date")]),
    "unknown-timezone": ("""
        timezone: Europe/Berln
        jobs: {}
        """, [(1, 11, "timezone", "Europe/Berlin")]),
    "unknown-executor": ("""
        jobs:
          backup:
            command: echo
            interval: 1h
            executor: heavy
        """, [(5, 15, "jobs.backup.executor", "unknown executor 'heavy'")]),
}


def problems(stderr: str) -> list[tuple[int, int, str | None, str]]:
    found = []
    for line in stderr.splitlines():
        match = LOCATED.match(line)
        assert match, f"not a located problem line: {line!r}"
        found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_each_mistake_is_reported_at_its_place(tmp_path, monkeypatch, text, expected):
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["validate", "jobs.yaml"])

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    reported = problems(result.stderr)
    assert [(line, column, path) for line, column, path, _ in reported] == [
        (line, column, path) for line, column, path, _ in expected
    ], result.stderr
    for (*_, message), (*_, fragment) in zip(reported, expected):
        assert fragment in message
        assert "Node(" not in message and "Field(" not in message  # no internals leak


BROKEN = """
    state: state.db
    jobs:
      backup:
        command: /usr/local/bin/backup
        cron: "0 0 30 2 *"
      report:
        call: reports:weekly
        comand: echo
        interval: 5 minutes
      twice:
        command: echo
        cron: "* * * * *"
        date: 2026-02-30
      none:
        command: echo
"""


def test_every_problem_is_reported_at_once_in_file_order(tmp_path, monkeypatch):
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent(BROKEN).lstrip("\n"))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["validate", "jobs.yaml"])

    assert result.exit_code == 2
    reported = problems(result.stderr)
    assert [(line, path) for line, _, path, _ in reported] == [
        (5, "jobs.backup.cron"),
        (7, "jobs.report.call"),
        (8, "jobs.report.comand"),
        (9, "jobs.report.interval"),
        (10, "jobs.twice"),
        (13, "jobs.twice.date"),
        (14, "jobs.none"),
    ], result.stderr


def test_a_valid_jobfile_shows_its_plan(tmp_path, monkeypatch):
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent("""
        timezone: Europe/Berlin
        jobs:
          backup: {command: echo, cron: "30 2 * * *"}
          report: {command: echo, interval: 90m}
          later: {command: echo, interval: 1h, paused: true}
    """))
    monkeypatch.chdir(tmp_path)

    text = CliRunner().invoke(main, ["validate", "jobs.yaml"])
    plan = CliRunner().invoke(main, ["validate", "jobs.yaml", "--json", "-n", "2"])

    assert text.exit_code == plan.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "jobs.yaml: OK, 3 job(s)"
    assert "backup: at 02:30 every day  cron[30 2 * * *]" in lines
    backup_runs = lines[lines.index("backup: at 02:30 every day  cron[30 2 * * *]") + 1:][:3]
    assert all(" 02:30:00 CE" in line for line in backup_runs)
    assert "  paused" in lines
    data = json.loads(plan.stdout)
    assert (data["jobfile"], data["valid"]) == ("jobs.yaml", True)
    jobs = {job["id"]: job for job in data["jobs"]}
    assert jobs["report"]["schedule"] == "every 1 hour and 30 minutes"
    assert len(jobs["backup"]["next_runs"]) == len(jobs["report"]["next_runs"]) == 2
    assert (jobs["later"]["paused"], jobs["later"]["next_runs"]) == (True, [])


# -- the real executable: exit codes, no traceback, and a state file left as it was ----------

def test_a_broken_jobfile_leaves_the_state_untouched(tmp_path, schedctl, jobfile, scheduler, state):
    path = jobfile("""
        state: state.db
        jobs:
          tick: {command: echo tick, interval: 0.2s}
    """)
    daemon = scheduler(path)
    wait_until(lambda: read_runs(state, "tick"), what="a run of tick")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    jobs_before = as_json(schedctl("list", "--state", state, "--json"))
    runs_before = as_json(schedctl("history", "--state", state, "--json", "-n", "1000"))
    snapshot = file_bytes(state)

    jobfile(BROKEN)
    validated = schedctl("validate", path)
    ran = schedctl("run", path, timeout=10)

    assert file_bytes(state) == snapshot
    for result in (validated, ran):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(problems(result.stderr.replace(str(path), "jobs.yaml"))) == 7
    assert as_json(schedctl("list", "--state", state, "--json")) == jobs_before
    assert as_json(schedctl("history", "--state", state, "--json", "-n", "1000")) == runs_before


def test_a_broken_jobfile_creates_no_state(tmp_path, schedctl, jobfile):
    path = jobfile(BROKEN)
    for command in ("validate", "run"):
        result = schedctl(command, path, timeout=10)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.yaml"]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_missing_jobfile_is_a_clean_error(schedctl, command):
    result = schedctl(command, "missing.yaml", timeout=10)

    assert result.returncode == 2
    assert result.stderr.strip() == "schedctl: missing.yaml: cannot read the jobfile: No such file or directory"


@pytest.mark.parametrize("text", ["jobs:\n  a: {command: 'true', interval: 1h}\n",
                                  "@hourly true\n"], ids=["jobfile", "crontab"])
def test_a_jobfile_from_a_pipe_is_read_once(text: str, cli_env: dict[str, str]) -> None:
    """``schedctl validate <(generate)``: a pipe gives its text once, so a second read
    would find it empty."""
    from tests.cli.conftest import SCHEDCTL

    result = subprocess.run([SCHEDCTL, "validate", "/dev/stdin"], input=text, env=cli_env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("/dev/stdin: OK, 1 job(s)")


def test_a_negative_count_is_a_usage_error(schedctl, jobfile):
    path = jobfile("jobs:\n  a: {command: 'true', interval: 1h}\n")
    result = schedctl("validate", "-n", "-1", path)
    assert result.returncode == 2 and result.stdout == ""
    assert "Invalid value for '-n' / '--count': -1 is not in the range 0<=x<=10000." in result.stderr
    assert schedctl("validate", "-n", "0", path).returncode == 0


def test_validate_warns_of_an_env_file_each_run_would_refuse(tmp_path, schedctl, jobfile):
    """An env_file is read at each run, so it is no jobfile error; but one that a run
    would refuse (a FIFO, over 1 MiB) is named now rather than at the first failed run."""
    os.mkfifo(tmp_path / "fifo.env", 0o600)
    (tmp_path / "big.env").write_bytes(b"A=" + b"x" * (1 << 20) + b"\n")
    path = jobfile(f"""
        jobs:
          piped: {{command: 'true', interval: 1h, env_file: {tmp_path}/fifo.env}}
          big: {{command: 'true', interval: 1h, env_file: {tmp_path}/big.env}}
          none: {{command: 'true', interval: 1h, env_file: /dev/null}}
          later: {{command: 'true', interval: 1h, env_file: {tmp_path}/not-yet.env}}
    """)
    result = schedctl("validate", path, "-n", "0")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"schedctl: warning: {path}:2: jobs.piped.env_file: each run would be refused: "
        f"{tmp_path}/fifo.env is not a regular file (a FIFO); name a file of KEY=VALUE lines",
        f"schedctl: warning: {path}:3: jobs.big.env_file: each run would be refused: "
        f"{tmp_path}/big.env is {(1 << 20) + 3} bytes, over the limit of 1 MiB; keep only "
        "KEY=VALUE lines in it",
    ]


def test_a_root_job_in_a_directory_anyone_may_write_is_warned_of(tmp_path, schedctl, jobfile,
                                                                  scheduler):
    """validate prints it, and schedctl run logs it at start; neither refuses the file."""
    if os.geteuid() != 0:
        pytest.skip("only a scheduler run as root runs root jobs")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = jobfile(f"""
        state: state.db
        jobs:
          sweep: {{command: ./sweep.sh, cwd: {shared}, interval: 1h}}
    """)
    warning = (f"{path}:3: jobs.sweep.cwd: the job runs as root in {shared}, where another "
               "user could plant a file it runs or reads: group or others may write it (mode "
               f"drwxrwxrwt); fix: chmod go-w {shared}, or set cwd to a directory only root "
               "may write")

    validated = schedctl("validate", path, "-n", "0")
    daemon = scheduler(path)
    daemon.wait_ready()

    assert (validated.returncode, validated.stderr) == (0, f"schedctl: warning: {warning}\n")
    assert warning in daemon.log()


def _piped(args: list[str], text: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    from tests.cli.conftest import SCHEDCTL

    return subprocess.run([SCHEDCTL, *args], input=text, env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=30, check=False)


def test_validate_dash_reads_standard_input(tmp_path, cli_env):
    """``crontab -l | schedctl validate --crontab -`` in a CI pipeline; problems are named
    ``<stdin>:LINE:COL``."""
    crontab = _piped(["validate", "--crontab", "-", "--json"], "@hourly true\n*/5 * * * * date\n",
                     cli_env, tmp_path)
    broken = _piped(["validate", "-"], "jobs:\n  a: {command: 'true', interval: 5 minutes}\n",
                    cli_env, tmp_path)

    assert crontab.returncode == 0, crontab.stderr
    data = json.loads(crontab.stdout)
    assert (data["jobfile"], [job["id"] for job in data["jobs"]]) == ("<stdin>", ["true", "date"])
    assert (broken.returncode, broken.stdout) == (2, "")
    assert broken.stderr == "<stdin>:2:34: jobs.a.interval: '5 minutes' is not a duration (try 5m)\n"
    assert not any(p.suffix == ".db" for p in tmp_path.rglob("*"))


def test_run_refuses_standard_input_and_says_why(tmp_path, cli_env):
    result = _piped(["run", "-"], "@hourly true\n", cli_env, tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "schedctl: JOBFILE '-': schedctl run cannot take its jobfile from standard input: it "
        "reads the file again at each reload (SIGHUP, or a change on disk), and standard input "
        "can be read only once; save it to a file first (crontab -l > my.crontab) and run that, "
        "or check it with 'schedctl validate -'\n")
    assert not any(p.suffix == ".db" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("raised", [
    "raise GeneratorExit('odd module')",
    "raise KeyboardInterrupt('odd module')",
    "raise SystemExit('odd module')",
    "def __getattr__(name):\n    raise GeneratorExit('odd module')",
], ids=["GeneratorExit", "KeyboardInterrupt", "SystemExit", "module-getattr"])
def test_a_call_module_raising_what_is_not_an_exception_is_one_clear_error(
        tmp_path, schedctl, jobfile, raised):
    """What a ``call:`` module raises at its import, even a BaseException that is not an
    Exception, is a problem of the jobfile's line and key: no traceback, exit 2."""
    (tmp_path / "odd.py").write_text(raised + "\n")
    path = jobfile("""
        jobs:
          fine: {command: 'true', interval: 1h}
          odd:
            call: odd:main
            interval: 1h
    """)
    result = schedctl("validate", path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(r"jobs\.yaml:4:\d+: jobs\.odd\.call: cannot import 'odd:main': "
                    r"\w+: odd module", lines[0]), lines[0]
