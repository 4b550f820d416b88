"""A crontab another user could change never becomes root's jobs, run as it is or imported.

cron skips such a file (``WRONG FILE OWNER``, ``BAD FILE MODE``) and so never runs it;
``schedctl import /etc/crontab /etc/cron.d`` once converted it with the rest, and the
jobfile it wrote ran its lines as root. A crontab of cron's spool may belong to the user
it is named for, as cron wants it: its lines run as that user.
"""

from __future__ import annotations

import pytest

from schedctl.jobfile.loader import load_jobfile
from tests.security.conftest import make_dir, needs_root, write

pytestmark = needs_root


def cron_d(site, users):
    """/etc/cron.d as a machine may have it: two files that cron runs, and two it skips
    (one owned by another user, one that anyone may write), each changed by the attacker."""
    etc = make_dir(site / "etc", 0o755)
    directory = make_dir(etc / "cron.d", 0o755)
    write(directory / "backup", "17 3 * * * root /usr/bin/backup-all\n")
    write(directory / "rotate", "5 4 * * * root /usr/sbin/rotate-logs\n")
    owned = write(directory / "evil", "", owner=users.attacker.uid)
    loose = write(directory / "loose", "", mode=0o666)
    for path in (owned, loose):
        users.attacker.sh(f"echo '* * * * * root touch {site}/pwned' > {path}")
    return directory, owned, loose


def test_import_skips_a_crontab_another_user_could_change(users, site, schedctl):
    directory, owned, loose = cron_d(site, users)
    output = site / "jobs.yaml"

    result = schedctl("import", "-o", output, directory)

    assert result.returncode == 1, result.stderr
    assert (f"schedctl: {owned}: skipped, as cron skips it: not trusted: it is owned by "
            f"{users.attacker.name}, not by root; fix: chown root {owned}") in result.stderr
    assert (f"schedctl: {loose}: skipped, as cron skips it: not trusted: group or others may "
            f"write it (mode -rw-rw-rw-, owner root); fix: chmod go-w {loose}") in result.stderr
    assert "2 file(s) skipped as untrusted" in result.stderr
    jobfile = load_jobfile(output)
    assert sorted(spec.command for spec in jobfile.jobs.values()) == [
        "/usr/bin/backup-all", "/usr/sbin/rotate-logs"]  # the legitimate jobs, all of them
    assert "pwned" not in output.read_text()


@pytest.mark.parametrize("which", ["owned", "loose"])
def test_run_refuses_a_crontab_another_user_could_change(users, site, schedctl, which):
    _, owned, loose = cron_d(site, users)
    path = owned if which == "owned" else loose

    result = schedctl("run", "--state", site / "state.db", path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"schedctl: {path}: not trusted: ")
    assert not (site / "pwned").exists() and not (site / "state.db").exists()


def test_import_reads_a_spool_crontab_its_user_owns_and_no_other(users, site, schedctl):
    attacker, runner = users.attacker, users.runner
    spool = make_dir(site / "spool" / "cron" / "crontabs", 0o1730)  # as crontab(1) keeps it
    write(spool / attacker.name, "0 1 * * * /usr/bin/own-report\n", mode=0o600,
          owner=attacker.uid)
    theirs = write(spool / runner.name, "0 2 * * * /usr/bin/runner-report\n", mode=0o600,
                   owner=attacker.uid)  # another user's crontab, written by the attacker
    output = site / "jobs.yaml"

    result = schedctl("import", "-o", output, spool)

    assert result.returncode == 1, result.stderr
    assert f"schedctl: {theirs}: skipped, as cron skips it: not trusted: it is owned by " \
           f"{attacker.name}" in result.stderr
    jobs = load_jobfile(output).jobs
    assert [(spec.command, spec.user) for spec in jobs.values()] == [
        ("/usr/bin/own-report", attacker.name)]
