"""What another user wrote never reaches root's terminal raw through a message.

An administrator asked to check a user's jobfile runs ``schedctl validate`` on it; a
message quotes the key it is about, and a key may hold an escape sequence. OSC 52 sets
the terminal's clipboard (here to ``rm -rf ~``), to be pasted into root's shell later.
File names, which any user picks in a sticky directory, reach ``import``'s notes the
same way. Messages escape control characters as job output is escaped in the log.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.security.conftest import make_dir, needs_root, write

pytestmark = needs_root

#: OSC 52: set the clipboard to base64("rm -rf ~").
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def test_validate_never_prints_a_jobfile_key_raw(users, site, schedctl):
    spool = make_dir(site / "spool", 0o1777)
    users.attacker.sh("printf 'jobs:\\n  \"ev\\\\u001b]52;c;cm0gLXJmIH4=\\\\u0007il\": "
                      "{command: true, interval: 1h}\\n' > jobs.yaml", cwd=spool)
    assert OSC52 in (spool / "jobs.yaml").read_text(encoding="unicode_escape")

    result = schedctl("validate", spool / "jobs.yaml")

    assert result.returncode == 2
    assert "jobs.ev\\x1b]52;c;cm0gLXJmIH4=\\ail: job id" in result.stderr
    assert not RAW.search(result.stderr), repr(result.stderr)


def test_a_line_separator_in_a_key_never_starts_a_line_of_its_own(site, schedctl):
    """Only a line feed of ours ends a message line: a key holding U+2028 and then what
    reads as a problem of its own (``jobs.yaml:1:1: ...``) stays on its one line, escaped."""
    jobfile = write(site / "jobs.yaml", """
        jobs:
          report:
            command: 'true'
            interval: 1h
            "x\\u2028jobs.yaml:1:1: all clear": 1
    """)

    result = schedctl("validate", jobfile)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("jobs.yaml:1:1")], lines
    assert "jobs.report.x\\u2028jobs.yaml:1:1: all clear" in result.stderr
    assert not RAW.search(result.stderr), repr(result.stderr)


def test_import_never_prints_a_file_name_raw(users, site, schedctl):
    cron_d = make_dir(site / "spool" / "cron.d", 0o1777)
    users.attacker.sh(f"touch 'x.{OSC52}'", cwd=cron_d)

    result = schedctl("import", cron_d)

    assert result.returncode == 0
    assert "cron.d/x.\\x1b]52;c;cm0gLXJmIH4=\\a: skipped, as cron skips it" in result.stderr
    assert not RAW.search(result.stderr), repr(result.stderr)


def test_a_state_file_another_user_wrote_never_reaches_the_terminal_raw(users, site, schedctl):
    """Root reading a user's own state file (``--state``): its job ids, errors and the
    rest are that user's words, shown escaped by list, history, status and top."""
    home = make_dir(site / "home", 0o755, owner=users.attacker.uid)
    state = home / "state.db"
    jobfile = write(site / "jobs.yaml", f"""
        state: {state}
        jobs:
          report: {{command: 'true', interval: 1h}}
    """)
    sync_jobs(load_jobfile(jobfile), SQLiteJobStore(path=state), datetime.now(UTC))
    for path in home.iterdir():  # as if the user's own scheduler had made them
        os.chown(path, users.attacker.uid, users.attacker.gid)
    evil = "'r' || char(27) || ']52;c;cm0gLXJmIH4=' || char(7) || 'x'"
    users.attacker.sh(
        f"sqlite3 {state} \"UPDATE jobs SET id = {evil}, state = json_set(state, '$.id', {evil}); "
        f"INSERT INTO runs (job_id, scheduled_for, state, error) VALUES ({evil}, 0, 'failed', "
        f"'boom' || char(27) || '[2J');\"")

    for command in (["list"], ["history"], ["history", "--stats"], ["status"], ["top"]):
        result = schedctl(*command, "--state", state)
        assert result.returncode in (0, 3), (command, result.stderr)
        if command != ["status"]:  # which shows no job by name
            assert "r\\x1b]52;c;cm0g" in result.stdout, (command, result.stdout)  # top cuts it
        assert not RAW.search(result.stdout + result.stderr), (command, result.stdout)
