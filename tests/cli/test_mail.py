"""cron's MAILTO, end to end: a running scheduler mails a job's output to a stand-in
``sendmail`` (a real program, first on the PATH) with cron's headers."""

from __future__ import annotations

import os
import socket

from schedctl.alerts.email import scheduler_user
from tests.cli.helpers import read_runs, wait_until
from tests.test_sendmail import stand_in


def test_a_jobs_output_reaches_sendmail_with_crons_headers(tmp_path, cli_env, jobfile,
                                                           scheduler, state):
    spool = stand_in(tmp_path / "bin")
    cli_env["PATH"] = f"{spool.program.parent}{os.pathsep}{cli_env['PATH']}"
    path = jobfile("""
        state: state.db
        defaults:
          on_output: [{sendmail: {to: ops@example.com, from: cron@example.com}}]
        jobs:
          report:
            command: echo "disk almost full"; echo "second line"
            interval: 0.2s
          quiet:
            command: "true"
            interval: 0.2s
          silenced:
            command: echo "nobody reads this"
            interval: 0.2s
            on_output: []
    """)
    daemon = scheduler(path)
    wait_until(lambda: spool.calls(), what="a mail to the stand-in sendmail", context=daemon.log)
    wait_until(lambda: min(len(read_runs(state, "quiet")), len(read_runs(state, "silenced"))) >= 2,
               what="runs of the quiet and silenced jobs", context=daemon.log)

    argv, mail = spool.calls()[0]
    assert argv == ["-t", "-oi"]
    assert mail["From"] == "cron@example.com"
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"] == (f'Cron <{scheduler_user()}@{socket.gethostname()}> echo "disk almost full"; '
                               'echo "second line"')
    assert mail.get_content() == "disk almost full\nsecond line\n"
    assert {m["X-Schedctl-Job"] for _, m in spool.calls()} == {"report"}
    assert "output alert for job 'report' sent: sendmail to ops@example.com" in daemon.log()
