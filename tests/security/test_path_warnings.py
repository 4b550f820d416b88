"""A root job whose PATH names a directory another user could change: that user plants a
program of the name the command runs, ahead of the real one. cron runs it too; schedctl
warns of it, as of a root job's ``cwd`` (what a command runs cannot all be told from its
text, so it stays a warning)."""

from __future__ import annotations

import os

import pytest

from tests.security.conftest import make_dir, needs_root, write

pytestmark = needs_root


@pytest.mark.parametrize("layout", ["owned", "sticky-missing", "relative"])
def test_a_root_job_with_a_path_another_user_could_change_is_warned_of(
        users, site, schedctl, scheduler, layout):
    attacker = users.attacker
    if layout == "owned":  # the attacker's own directory, first on the PATH
        planted = make_dir(site / "tools", 0o755, owner=attacker.uid)
        attacker.sh(f"printf '#!/bin/sh\\nid > {site}/pwned\\n' > {planted}/backup "
                    f"&& chmod +x {planted}/backup")
        why = f"it is owned by {attacker.name}"
    elif layout == "sticky-missing":  # not there yet, in a directory anyone may add to
        make_dir(site / "drop", 0o1777)
        planted = site / "drop" / "bin"
        why = f"another user could create it in {site / 'drop'}"
    else:
        planted = "."
        why = "a relative entry"
    jobs = write(site / "jobs.yaml", f"""
        state: {site}/state.db
        jobs:
          backup:
            command: backup --all
            env: {{PATH: "{planted}:/usr/bin:/bin"}}
            interval: 1h
    """)
    validated = schedctl("validate", jobs, "-n", "0")
    assert validated.returncode == 0, validated.stderr
    lines = validated.stderr.splitlines()
    assert len(lines) == 1, validated.stderr
    assert lines[0].startswith(f"schedctl: warning: {jobs}:3: jobs.backup.env.PATH: the job "
                               f"runs as root with {planted} on its PATH"), lines[0]
    assert why in lines[0], lines[0]
    daemon = scheduler(jobs)
    assert lines[0].removeprefix("schedctl: warning: ") in daemon.log()


def test_a_root_job_with_a_path_only_root_may_change_is_not_warned_of(users, site, schedctl):
    tools = make_dir(site / "tools", 0o755)
    jobs = write(site / "jobs.yaml", f"""
        state: {site}/state.db
        jobs:
          backup: {{command: backup, env: {{PATH: "{tools}:/usr/bin:/bin"}}, interval: 1h}}
          mine: {{command: backup, user: {users.attacker.name},
                  env: {{PATH: "/tmp:."}}, interval: 1h}}
    """)
    validated = schedctl("validate", jobs, "-n", "0")
    assert (validated.returncode, validated.stderr) == (0, ""), validated.stderr
    assert os.path.isdir(tools)


def test_a_root_jobs_missing_cwd_that_another_user_could_make_is_warned_of(users, site, schedctl):
    """A cwd not made yet in a sticky directory: another user makes it first, and the
    root job runs in a directory of theirs."""
    drop = make_dir(site / "drop", 0o1777)
    jobs = write(site / "jobs.yaml", f"""
        state: {site}/state.db
        jobs:
          sweep: {{command: ./sweep.sh, cwd: {drop}/work, interval: 1h}}
    """)
    validated = schedctl("validate", jobs, "-n", "0")
    assert validated.returncode == 0, validated.stderr
    assert validated.stderr == (
        f"schedctl: warning: {jobs}:3: jobs.sweep.cwd: the job runs as root in {drop}/work, "
        "where another user could plant a file it runs or reads: it does not exist, and "
        f"another user could create it in {drop}: group or others may write it (mode "
        f"drwxrwxrwt); fix: chmod go-w {drop}, or set cwd to a directory only root may "
        "write\n")
