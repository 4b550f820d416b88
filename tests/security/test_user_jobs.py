"""A ``user:`` job cannot use root's hand to reach what its user may not.

The working directory of a job was entered by root, before the switch to its user. A
``cwd`` inside the user's own home is the user's to change: made a link to a directory
below one that only root may pass (a 0700 home, /root), it gave the user's commands a
place, and the files in it, that the user cannot reach. cron enters it as the user.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from schedctl.commands.runner import run_command
from schedctl.commands.spec import CommandSpec
from tests.cli.helpers import read_runs, wait_until
from tests.security.conftest import make_dir, needs_root, write
from tests.security.test_attacks import TICK, keeps_ticking
from tests.test_shim import FAR, FixedLease

pytestmark = needs_root

SECRET = "root's eyes only"


def vault(site: Path) -> Path:
    """A directory readable by all, below one that only root may pass."""
    hidden = make_dir(site / "vault", 0o700)
    public = make_dir(hidden / "public", 0o755)
    write(public / "secret", SECRET + "\n")
    return public


def test_a_user_job_enters_its_cwd_as_its_user(users, site, scheduler):
    attacker = users.attacker
    home = make_dir(site / "home", 0o755, owner=attacker.uid)
    attacker.sh("mkdir work && echo 'pwd > ran' > report.sh", cwd=home)
    target, loot = vault(site), home / "loot"
    state = make_dir(site / "var", 0o700) / "state.db"
    jobfile = write(make_dir(site / "etc", 0o755) / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
          report: {{command: "sh {home}/report.sh", user: {attacker.name}, cwd: {home}/work,
                    interval: 0.2s}}
    """)
    daemon = scheduler(jobfile)
    wait_until(lambda: (home / "work" / "ran").exists(), 10, what="the report to run",
               context=daemon.log)
    assert (home / "work" / "ran").read_text() == f"{home}/work\n"  # a real directory: as ever

    attacker.sh(f"rm -r work && ln -s {target} work && echo 'cat secret > {loot}' > report.sh",
                cwd=home)
    wait_until(lambda: any(run.state == "failed" for run in read_runs(state, "report")), 10,
               what="a run after the swap", context=daemon.log)
    keeps_ticking(state, log=daemon.log)
    daemon.signal(signal.SIGTERM)
    daemon.wait_exit()

    assert not loot.exists()
    failed = next(run for run in read_runs(state, "report") if run.state == "failed")
    assert failed.exit_code == 125
    assert f"{attacker.name} cannot enter the working directory {home}/work" in failed.output


@pytest.mark.parametrize("leased", [False, True], ids=["direct", "under-the-lease-shim"])
def test_a_cwd_that_leads_where_the_user_may_not_go_is_not_entered(users, site, leased):
    attacker = users.attacker
    home = make_dir(site / "home", 0o755, owner=attacker.uid)
    attacker.sh(f"ln -s {vault(site)} work", cwd=home)

    result = run_command(CommandSpec("cat secret", user=attacker.name, cwd=f"{home}/work"),
                         job_id="peek", lease=FixedLease(FAR) if leased else None)

    assert result.outcome == "failed" and result.exit_code == 125
    assert SECRET not in result.output_tail
    assert f"cannot enter the working directory {home}/work" in result.output_tail


def test_a_missing_cwd_or_program_still_does_not_start(users, site):
    """Checked as root beforehand, as the start itself once did: the same not_started."""
    name = users.attacker.name
    missing = run_command(CommandSpec("true", user=name, cwd=f"{site}/nowhere"), job_id="a")
    assert (missing.outcome, missing.error) == (
        "not_started", f"working directory does not exist: '{site}/nowhere'")
    unknown = run_command(CommandSpec(["no-such-program-sct"], user=name, cwd=str(site)),
                          job_id="b")
    assert (unknown.outcome, unknown.error) == (
        "not_started", "command not found: 'no-such-program-sct'")
