"""A second name for root's file, made by another user in a sticky directory, is refused.

In /tmp anyone may add a name. Where the kernel lets users link files they cannot read
(``fs.protected_hardlinks`` 0: older kernels, some containers), another user could give
a root-owned 0600 file the name an ``env_file`` is expected under: owned by root and
closed to others, it passed the rule, and a ``user:`` job of that user read root's
secrets into its environment. cron refuses a crontab with more than one name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import read_runs, wait_until
from tests.security.conftest import make_dir, needs_root, write
from tests.security.test_attacks import TICK, keeps_ticking

pytestmark = needs_root

SYSCTL = Path("/proc/sys/fs/protected_hardlinks")


@contextlib.contextmanager
def unprotected_hardlinks() -> Iterator[None]:
    """The kernel of such a machine, for the moment the other user makes the link."""
    try:
        before = SYSCTL.read_text()
        SYSCTL.write_text("0\n")
    except OSError:
        pytest.skip("fs.protected_hardlinks cannot be changed here")
    try:
        yield
    finally:
        SYSCTL.write_text(before)


def test_a_hard_link_to_roots_file_in_a_sticky_directory_is_refused(users, site, scheduler):
    attacker = users.attacker
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o700)
    secret = write(etc / "secret.env", "TOKEN=root-secret\n", mode=0o600)  # another job's
    spool, home = make_dir(site / "spool", 0o1777), make_dir(site / "home", 0o755,
                                                            owner=attacker.uid)
    env_file, state, seen = spool / "report.env", var / "state.db", home / "seen"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
          report: {{command: 'echo "token=$TOKEN" >> {seen}', user: {attacker.name},
                    env_file: {env_file}, interval: 0.2s}}
    """)
    daemon = scheduler(jobfile)
    with unprotected_hardlinks():
        attacker.sh(f"ln {secret} {env_file}")

    def leaked() -> bool:
        return seen.exists() and "root-secret" in seen.read_text()

    def refused() -> list:
        return [run for run in read_runs(state, "report") if "hard links" in (run.error or "")]

    wait_until(lambda: leaked() or refused(), 10, what="a run with the link in place",
               context=daemon.log)
    keeps_ticking(state, log=daemon.log)

    assert not leaked()
    assert refused()[0].state == "not_started"
    assert (f"env_file {env_file}: not trusted: it has 2 names (hard links)"
            in refused()[0].error)
