"""Crontab files on the command line: ``schedctl import``, and ``validate``/``run`` taking a
crontab as it is, with ``list``, ``history`` and ``pause`` naming its jobs by the ids
``import`` writes. The real executable, real files, a real ``schedctl run``."""

from __future__ import annotations

import os
import stat
import subprocess
import textwrap
from pathlib import Path


from schedctl.jobfile.loader import load_jobfile, parse_jobfile
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import as_json, read_runs, wait_until
from tests.test_sendmail import stand_in

CORPUS = Path(__file__).resolve().parent.parent / "data" / "crontabs"


def test_import_writes_a_jobfile_that_validates(schedctl, tmp_path):
    out = tmp_path / "jobs.yaml"
    result = schedctl("import", "-o", out, CORPUS / "etc" / "crontab", CORPUS / "etc" / "cron.d")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    for skipped in ("php.dpkg-old", "backup~", ".placeholder"):
        assert f"{skipped}: skipped, as cron skips it" in result.stderr
    assert "11 job(s) written to" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    checked = as_json(schedctl("validate", out, "--json"))
    assert [job["id"] for job in checked["jobs"]] == [
        "cron.hourly", "cron.daily", "cron.weekly", "cron.monthly", "certbot",
        "e2scrub_all_cron", "e2scrub_all", "checkarray", "sessionclean", "debian-sa1",
        "debian-sa1-2"]
    assert {spec.user for spec in load_jobfile(out).jobs.values()} == {"root"}


def test_import_reads_stdin_and_prints_the_jobfile(cli_env, tmp_path):
    crontab = (CORPUS / "users" / "alice").read_text()
    result = subprocess.run([SCHEDCTL, "import", "-"], input=crontab, capture_output=True,
                            text=True, env=cli_env, cwd=tmp_path, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    jobs = parse_jobfile(result.stdout, "jobs.yaml").jobs
    assert jobs["mail"].stdin == "Hi team,\n\nThe weekly report is on the wiki.\n-- alice"
    assert jobs["pg_dump"].command == "pg_dump app > dumps/app-$(date +%Y%m%d).sql"
    assert "# From: <stdin>" in result.stdout


def test_import_reports_each_line_it_cannot_convert_and_exits_1(schedctl, tmp_path):
    out = tmp_path / "jobs.yaml"
    broken = CORPUS / "users" / "broken"
    result = schedctl("import", "-o", out, broken)
    assert result.returncode == 1
    located = [line for line in result.stderr.splitlines() if line.startswith(f"{broken}:")]
    assert [line.split(":")[1] for line in located] == ["3", "4", "5", "6", "7", "8", "9", "10"]
    assert "Traceback" not in result.stderr
    assert "8 line(s) could not be converted" in result.stderr
    assert list(load_jobfile(out).jobs) == ["echo"]  # written all the same, and valid
    assert out.read_text().count("# CANNOT CONVERT") == 8


def test_import_never_overwrites_a_file(schedctl, tmp_path):
    out = tmp_path / "jobs.yaml"
    out.write_text("precious\n")
    result = schedctl("import", "-o", out, CORPUS / "users" / "bob")
    assert result.returncode == 2 and "exists already" in result.stderr
    assert out.read_text() == "precious\n"


def test_import_system_reads_the_user_column_of_any_file(schedctl, tmp_path):
    plain = tmp_path / "system-lines"
    plain.write_text("0 4 * * * www-data /usr/bin/php /var/www/cron.php\n")
    as_system = schedctl("import", "--system", plain)
    assert as_system.returncode == 0, as_system.stderr
    assert "command: /usr/bin/php /var/www/cron.php" in as_system.stdout
    assert "user: www-data" in as_system.stdout


def test_validate_takes_a_crontab_and_names_its_jobs(schedctl):
    result = as_json(schedctl("validate", CORPUS / "users" / "bob", "--json", "-n", "1"))
    assert [job["id"] for job in result["jobs"]][:3] == ["poll-orders", "nightly", "echo"]
    assert result["jobs"][0]["trigger"].startswith("cron[0 9-17 * * 1-5]")


def test_validate_reports_every_bad_crontab_line_with_exit_2(schedctl):
    broken = CORPUS / "users" / "broken"
    result = schedctl("validate", broken)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 8 and all(line.startswith(f"{broken}:") for line in lines)
    assert f"{broken}:9:14: 'root' looks like the user column" in result.stderr


def test_crontab_and_system_force_the_format(schedctl, tmp_path):
    odd = tmp_path / "odd.yaml"  # looks like neither until told
    odd.write_text("0 4 * * * root /usr/local/bin/rotate\n")
    assert "cron.d" not in str(odd)
    as_user = schedctl("validate", "--crontab", odd)
    assert as_user.returncode == 2 and "'root' looks like the user column" in as_user.stderr
    as_system = schedctl("validate", "--system", odd, "--json")
    assert [job["id"] for job in as_json(as_system)["jobs"]] == ["rotate"]
    yaml_file = tmp_path / "jobs.yaml"
    yaml_file.write_text("jobs:\n  a: {command: x, interval: 5m}\n")
    forced = schedctl("validate", "--crontab", yaml_file)  # each line read as a crontab line
    assert forced.returncode == 2
    assert forced.stderr.startswith(f"{yaml_file}:1:6: no hour field")
    assert f"{yaml_file}:2:" in forced.stderr


def test_run_a_crontab_as_it_is(schedctl, scheduler, tmp_path, cli_env):
    spool = stand_in(tmp_path / "bin")  # a sendmail that records each mail
    cli_env["PATH"] = f"{spool.program.parent}{os.pathsep}{cli_env['PATH']}"
    home = tmp_path / "home"
    home.mkdir()
    crontab = tmp_path / "my.crontab"
    crontab.write_text(textwrap.dedent(f"""\
        # Greet, from the crontab's own directory and environment
        GREETING = "hello from cron"
        HOME={home}
        MAILTO=ops@example.com
        @reboot  echo "$GREETING" > greeting; pwd > where; echo mailed; cat > got%line 1%line 2 with 50\\% done
        MAILTO=""
        */20 * * * *  ls -l
        """))
    expected_ids = list(parse_jobfile(schedctl("import", crontab).stdout, "x").jobs)
    assert expected_ids == ["pwd", "ls"]  # echo only reports: the first program doing work

    scheduler(crontab)
    wait_until(lambda: (home / "got").exists() and (home / "got").read_text().endswith("done"),
               what="the @reboot line to run")
    assert (home / "greeting").read_text() == "hello from cron\n"
    assert (home / "where").read_text() == f"{home}\n"
    assert (home / "got").read_text() == "line 1\nline 2 with 50% done"

    listed = as_json(schedctl("list", "-f", crontab, "--json"))
    assert sorted(job["id"] for job in listed) == sorted(expected_ids)
    assert schedctl("pause", "-f", crontab, "ls").returncode == 0
    states = {job["id"]: job["state"] for job in as_json(schedctl("list", "-f", crontab, "--json"))}
    assert states["ls"] == "paused"
    history = wait_until(lambda: [row for row in as_json(schedctl("history", "-f", crontab, "--json"))
                                  if row["state"] == "success"], what="the run in the history")
    assert [row["job_id"] for row in history] == ["pwd"]
    [(argv, mail)] = wait_until(spool.calls, what="the output mailed to MAILTO")
    assert (argv, mail["To"], mail.get_content()) == (["-t", "-oi"], "ops@example.com", "mailed\n")
    assert mail["Subject"].replace("\n", "").endswith('> echo "$GREETING" > greeting; pwd > where; echo mailed; cat > got')


def test_run_refuses_a_crontab_others_may_write(schedctl, tmp_path):
    crontab = tmp_path / "shared.crontab"
    crontab.write_text("@reboot echo hi\n")
    crontab.chmod(0o666)
    result = schedctl("run", crontab)
    assert result.returncode == 2
    assert f"{crontab}: not trusted: group or others may write it" in result.stderr


def test_a_broken_crontab_is_refused_at_start_and_the_state_is_untouched(schedctl, tmp_path):
    crontab = tmp_path / "broken.crontab"
    crontab.write_text("0 2 * * * backup\n61 * * * * bad\n")
    result = schedctl("run", crontab)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{crontab}:2:1: cron expression '61 * * * *'")
    assert not list((tmp_path / "xdg-state").rglob("*.db"))
    assert read_runs(tmp_path / "none.db") == []
