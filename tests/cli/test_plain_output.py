"""What the real executable prints for people: words said once, retries told apart, schedules
in words, and piped output without trailing blanks."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.helpers import read_runs

JOBS = """
    state: state.db
    timezone: UTC
    jobs:
      minutely:
        command: "true"
        cron: "* * * * *"
      missing:
        command: no-such-command-xyz
        interval: 1h
      flaky:
        command: exit 3
        interval: 1h
        retries: 2
        retry_delay: 10ms
"""


@pytest.fixture
def synced(jobfile, state):
    """The jobs of JOBS in a state file that no scheduler holds: run-now runs them here."""
    path = jobfile(JOBS)
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    store.shutdown()
    return path


def repeated_words(line: str) -> list[str]:
    words = line.replace(";", " ").replace(",", " ").replace(":", " ").split()
    return [a for a, b in pairwise(words) if a == b and not a.isdigit()]


def test_a_command_not_found_is_said_once_in_every_view(schedctl, jobfile, scheduler, state):
    daemon = scheduler(jobfile(JOBS))
    assert schedctl("run-now", "--state", state, "missing").returncode == 0
    daemon.wait_for_log("missing: failed")
    history = schedctl("history", "--state", state)

    [logged] = [line for line in daemon.log().splitlines() if "missing: failed" in line]
    assert logged.endswith("- command not found (reported by /bin/sh)"), logged
    assert logged.count("exit 127") == 1 and logged.count(" in ") == 1, logged
    [row] = [line for line in history.stdout.splitlines() if " missing " in line]
    assert row.endswith("failed exit 127 - command not found (reported by /bin/sh)"), row
    for line in (logged, row):
        assert repeated_words(line) == [], line


def test_run_now_in_the_foreground_sums_up_in_the_same_words(schedctl, synced, state):
    result = schedctl("run-now", "--state", state, "missing")

    assert result.returncode == 1
    assert result.stdout.strip() == (
        "missing: failed exit 127 - command not found (reported by /bin/sh)")


def test_history_has_an_attempt_column_that_tells_retries_apart(schedctl, synced, state):
    assert schedctl("run-now", "--state", state, "flaky").returncode == 1

    history = schedctl("history", "--state", state, "flaky")

    header, *rows = history.stdout.splitlines()
    assert header.split() == ["RUN", "JOB", "SCHEDULED", "STARTED", "DURATION", "ATTEMPT",
                              "OUTCOME"]
    column = header.index("ATTEMPT")
    assert [row[column:].split()[0] for row in rows] == ["3", "2", "1"]
    assert [r.attempt for r in read_runs(state, "flaky")] == [3, 2, 1]


def test_every_minute_is_said_in_words(schedctl, synced, state):
    validate = schedctl("validate", synced, "-n", "1")
    listing = schedctl("list", "--state", state)

    assert "minutely: every minute" in validate.stdout
    [row] = [line for line in listing.stdout.splitlines() if line.startswith("minutely")]
    assert "every minute" in row and "'* * * * *'" not in row


def test_piped_output_has_no_trailing_spaces(schedctl, synced, state):
    schedctl("run-now", "--state", state, "flaky")
    schedctl("run-now", "--state", state, "missing")
    outputs = {
        " ".join(map(str, args)): schedctl(*args).stdout for args in [
            ("history", "--state", state), ("history", "--state", state, "--output"),
            ("list", "--state", state), ("status", "--state", state),
            ("next", "--state", state, "minutely"), ("next", "--cron", "*/5 * * * *"),
            ("validate", synced), ("pause", "--state", state, "flaky"),
            ("resume", "--state", state, "flaky"),
        ]
    }

    padded = {command: [line for line in text.splitlines() if line != line.rstrip()]
              for command, text in outputs.items()}
    assert {command: lines for command, lines in padded.items() if lines} == {}
    assert all(text.strip() for text in outputs.values()), outputs


def test_history_output_takes_a_line_of_its_own_under_its_run(tmp_path, schedctl, jobfile, state):
    """An output line longer than a time once sat in the SCHEDULED column and widened it
    (or, on a narrow terminal, was cut into pieces there)."""
    long_line = "word " * 30
    path = jobfile(f"""
        state: state.db
        jobs:
          talky: {{command: "echo '{long_line}'; echo second", interval: 1h}}
    """)
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    store.shutdown()
    assert schedctl("run-now", "--state", state, "talky").returncode == 0

    lines = schedctl("history", "--state", state, "--output").stdout.splitlines()
    header, row, *output = lines
    assert header.index("STARTED") - header.index("SCHEDULED") == len("2026-01-01 00:00:00 UTC  ")
    assert row.split()[:2] == ["1", "talky"]
    assert output == [f"    {long_line.strip()}", "    second"]


def test_next_says_what_a_boot_job_or_a_paused_job_is(schedctl, jobfile, state):
    """'No upcoming runs.' for an @reboot job read as if it never ran; a paused job's times
    were shown as if it would run at them."""
    path = jobfile("""
        state: state.db
        timezone: UTC
        jobs:
          warm: {command: "true", cron: "@reboot"}
          held: {command: "true", cron: "0 4 * * *", paused: true}
    """)
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    store.shutdown()

    boot = schedctl("next", "--state", state, "warm")
    assert (boot.returncode, boot.stdout) == (0, "warm runs once after each boot (@reboot), "
                                                 "at no set time\n")
    assert schedctl("next", "--state", state, "warm", "--json").stdout.split() == ["[]"]
    held = schedctl("next", "--state", state, "held", "-n", "2")
    assert held.returncode == 0 and len(held.stdout.splitlines()) == 2
    assert all(" 04:00:00 UTC" in line for line in held.stdout.splitlines())
    assert held.stderr == "schedctl: note: held is paused; it runs at these times once resumed\n"


def test_validate_names_the_jobfile_as_given_even_if_it_reads_as_markup(tmp_path, schedctl):
    """A file name is text: ``[red]`` in it is shown, not taken for a colour."""
    named = tmp_path / "[red]jobs.yaml"
    named.write_text("jobs:\n  report: {command: 'true', interval: 1h}\n")
    result = schedctl("validate", named.name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[red]jobs.yaml: OK, 1 job(s)"), result.stdout
