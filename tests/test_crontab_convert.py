"""Crontab lines -> jobfile jobs: ids, settings by position, defaults, descriptions, what is
kept as a comment, what cannot be converted (file:line:column and why), and a written
jobfile that always reads back as the same commands, stdin and environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedctl.crontab.build import Imported, import_crontabs, load_any
from schedctl.crontab.files import Source, expand, parse_source
from schedctl.crontab.names import program_name, unique_ids
from schedctl.crontab.parse import CrontabParser, SystemCrontabParser
from schedctl.jobfile.loader import parse_jobfile
from schedctl.jobfile.specs import JobSpec

CORPUS = Path(__file__).parent / "data" / "crontabs"


def imported(text: str, *, system: bool = False, name: str = "tab") -> Imported:
    parser = SystemCrontabParser() if system else CrontabParser()
    return import_crontabs([parser.parse(textwrap.dedent(text).lstrip("\n"), name)], "jobs.yaml")


def jobs_of(text: str, **options: bool) -> dict[str, JobSpec]:
    result = imported(text, **options)
    assert result.problems == []
    return result.jobfile.jobs


NAMES = [
    ("run-parts", "cd / && run-parts --report /etc/cron.daily", "cron.daily"),
    ("guard-then-brace", "test -x /usr/sbin/anacron || { cd / && run-parts /etc/cron.weekly; }",
     "cron.weekly"),
    ("if-then", "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run ]; then /usr/lib/php/sessionclean; fi",
     "sessionclean"),
    ("assignment-prefix", "test -e /run/x || SERVICE_MODE=1 /sbin/e2scrub_all -A -r", "e2scrub_all"),
    ("command-v", "command -v debian-sa1 > /dev/null && debian-sa1 1 1", "debian-sa1"),
    ("wrappers", "nice -n 19 ionice -c3 /usr/local/bin/backup.sh --all 2>&1 | logger", "backup"),
    ("flock-timeout", "flock -n /tmp/x.lock timeout 5m python3 /opt/app/manage.py clear", "manage"),
    ("inline-perl", "perl -e 'sleep int(rand(60))' && certbot -q renew", "certbot"),
    ("python-module", "python3 -m app.jobs.cleanup", "cleanup"),
    ("env-wrapper", "/usr/bin/env FOO=1 php /var/www/cron.php >/dev/null 2>&1", "cron"),
    ("only-guards", "date >> /tmp/ticks", "date"),
    ("unbalanced-quote", 'echo "oops', "echo"),
    ("odd-characters", "/opt/my tool/ünï€ode!", "my"),
    ("nothing-usable", "{ ; }", "job"),
    ("redirection-first", ">/dev/null 2>&1 /usr/local/bin/report", "report"),
    ("fd-redirection-first", "2>&1 /usr/bin/foo", "foo"),
    ("substitution-and-append", "echo tick $(date +%S) >> /var/log/ticks", "echo"),
    ("arithmetic-then-program", "sleep $((RANDOM % 60)); /usr/bin/sync", "sync"),
]


@pytest.mark.parametrize(("command", "name"), [c[1:] for c in NAMES], ids=[c[0] for c in NAMES])
def test_job_ids_name_the_program(command: str, name: str) -> None:
    assert program_name(command) == name


def test_ids_are_made_unique_in_order() -> None:
    assert unique_ids(["a", "b", "a", "a", "a-2"]) == ["a", "b", "a-2", "a-3", "a-2-2"]


def test_settings_apply_to_the_lines_below_them() -> None:
    jobs = jobs_of("""
        0 1 * * * first
        FOO=one
        0 2 * * * second
        FOO=two
        SHELL=/bin/bash
        0 3 * * * third
        """)
    assert [jobs[i].env.get("FOO") for i in ("first", "second", "third")] == [None, "one", "two"]
    assert [jobs[i].shell for i in ("first", "second", "third")] == ["/bin/sh", "/bin/sh", "/bin/bash"]


def test_shared_settings_go_to_defaults_and_the_rest_to_the_jobs() -> None:
    result = imported("""
        PATH=/usr/bin:/bin
        CRON_TZ=Europe/Paris
        0 1 * * * first
        HOME=/srv
        0 2 * * * second
        """)
    text = result.text
    defaults = text.split("\njobs:", 1)[0]
    assert "PATH: /usr/bin:/bin  # tab:1" in defaults and "timezone: Europe/Paris" in defaults
    assert "cwd:" not in defaults and "HOME" not in defaults
    spec = result.jobfile.jobs["second"]
    assert (spec.cwd, spec.env["HOME"], spec.timezone) == ("/srv", "/srv", "Europe/Paris")
    assert result.jobfile.jobs["first"].cwd is None and "HOME" not in result.jobfile.jobs["first"].env


def test_what_each_variable_becomes() -> None:
    jobs = jobs_of("""
        SHELL=/bin/bash
        HOME=/home/alice
        CRON_TZ=America/New_York
        TZ=Asia/Tokyo
        RANDOM_DELAY=7
        LANG = "C.UTF-8"
        0 2 * * * backup
        @reboot start
        CRON_TZ=
        RANDOM_DELAY=0
        0 3 * * * later
        """)
    backup, start, later = jobs["backup"], jobs["start"], jobs["later"]
    assert (backup.shell, backup.cwd, backup.timezone, backup.jitter) == (
        "/bin/bash", "/home/alice", "America/New_York", 420.0)
    assert backup.env == {"SHELL": "/bin/bash", "HOME": "/home/alice", "TZ": "Asia/Tokyo",
                          "LANG": "C.UTF-8"}
    assert (start.trigger.kind, start.jitter) == ("reboot", None)  # no schedule to shift
    assert (later.timezone, later.jitter) == (None, None)  # set empty: back to the machine's


def test_mailto_becomes_on_output_and_the_user_column_the_user() -> None:
    result = imported("""
        0 1 * * * root /usr/local/bin/before-any-mailto
        MAILTO=ops@example.com, root
        MAILFROM=cron@example.com
        LOGNAME=someone
        0 2 * * * root /usr/local/bin/backup
        MAILTO=""
        0 3 * * * nobody /usr/local/bin/report
        MAILTO=alice
        0 4 * * * root /usr/local/bin/sync
        """, system=True)
    text = result.text
    assert "  # tab:4: LOGNAME=someone  (not converted: cron sets it to the job's user)" in text
    assert result.problems == []
    jobs = result.jobfile.jobs
    assert [(spec.user, spec.env) for spec in jobs.values()] == [
        ("root", {}), ("root", {}), ("nobody", {}), ("root", {})]
    mails = [[(a.to, a.from_addr) for a in spec.on_output] for spec in jobs.values()]
    assert mails == [[], [(("ops@example.com", "root"), "cron@example.com")], [],
                     [(("alice",), "cron@example.com")]]
    assert "    on_output: []  # tab:6\n" in text  # MAILTO="": off, where a default would not be
    assert "    user: root  # tab:5\n" in text


def test_a_value_every_job_shares_is_written_once_though_each_line_set_it() -> None:
    first = SystemCrontabParser().parse("PATH=/bin\n0 1 * * * root /bin/a\n", "crontab")
    second = SystemCrontabParser().parse("PATH=/bin\n0 2 * * * root /bin/b\n", "cron.d/b")
    text = import_crontabs([first, second]).text
    defaults = "defaults:\n  user: root  # crontab:2\n  env:\n    PATH: /bin  # crontab:1\n"
    assert defaults in text
    assert (text.count("user:"), text.count("PATH:")) == (1, 1), text


def test_a_bad_mailto_is_reported_and_ignored() -> None:
    result = imported("MAILTO=ops@example.com, not an address\n0 1 * * * job\n")
    (problem,) = result.problems
    assert problem.line == 1 and "'not an address' is neither an email address" in problem.message
    assert result.jobfile.jobs["job"].on_output == ()


def test_a_refused_setting_says_why_and_not_that_the_rest_still_runs() -> None:
    # run and validate refuse the whole crontab for it; "ignored" would say the rest runs.
    result = imported("RANDOM_DELAY=soon\n0 1 * * * job\n")
    assert [p.message for p in result.problems] == [
        "RANDOM_DELAY must be a whole number of minutes, got 'soon'"]


def test_a_crontab_with_every_line_commented_out_runs_no_job(tmp_path: Path) -> None:
    # What stops a crontab's jobs, as with cron: a live reload applies it, not refuses it.
    path = tmp_path / "crontab"
    path.write_text("# Off until the migration is done\n#0 2 * * * backup\n")
    assert load_any(str(path)).jobs == {}


def test_a_user_this_machine_lacks_is_reported_not_written() -> None:
    result = imported("0 2 * * * no-such-user-here /usr/bin/true\n", system=True)
    (problem,) = result.problems
    assert (problem.line, problem.column) == (1, 11)
    assert problem.message.startswith("no user 'no-such-user-here' on this machine")
    assert result.jobfile.jobs == {} and "# CANNOT CONVERT tab:1:" in result.text


def test_a_user_crontab_read_with_a_user_column_is_not_told_to_add_a_user() -> None:
    result = imported("0 2 * * * echo hello\n", system=True)
    (problem,) = result.problems
    assert (problem.line, problem.column) == (1, 11)
    assert problem.message == ("'echo' is a program, not a user of this machine: tab is read "
                               "with a user column, as /etc/crontab is; if it is a user "
                               "crontab, leave out --system")


@pytest.mark.parametrize("spool", ["/var/spool/cron/crontabs", "/var/spool/cron"],
                         ids=["debian", "cronie"])
def test_a_crontab_of_crons_spool_runs_as_the_user_it_is_named_for(spool: str) -> None:
    owned = import_crontabs([parse_source(Source(f"{spool}/root", "0 1 * * * /bin/true\n"))])
    assert owned.problems == [] and owned.jobfile.jobs["true"].user == "root"
    orphan = import_crontabs([parse_source(Source(f"{spool}/no-such-user-here", "@daily x\n"))])
    (problem,) = orphan.problems
    assert problem.message.startswith("no user 'no-such-user-here' on this machine")
    elsewhere = import_crontabs([parse_source(Source("/home/alice/crontabs/root", "@daily x\n"))])
    assert elsewhere.jobfile.jobs["x"].user is None  # only cron's own spool names a user


def test_a_spool_directory_stands_for_every_users_crontab_dotted_names_too(tmp_path: Path) -> None:
    spool = tmp_path / "cron" / "crontabs"
    spool.mkdir(parents=True)
    for name in ("john.doe", "root", "tmp.Xa81kz"):  # tmp.*: what crontab -e leaves
        (spool / name).write_text("@daily true\n")
    files, notes = expand([str(spool)])
    assert [Path(f).name for f in files] == ["john.doe", "root"]
    assert notes == [(f"{spool}/tmp.Xa81kz: skipped: cron's spool holds one crontab per user, "
                      "named for the user, and this is none")]


def test_the_comment_right_above_a_line_is_its_description() -> None:
    jobs = jobs_of("""
        # A header, kept as a comment

        # Nightly backup
        # of /etc
        0 2 * * * backup
        # 0 3 * * * old-backup
        0 4 * * * after-commented-out-line
        # Above a setting, not a job
        FOO=1
        0 5 * * * after-setting
        ######
        0 6 * * * after-decoration
        """)
    assert jobs["backup"].description == "Nightly backup of /etc"
    assert [jobs[i].description for i in ("after-commented-out-line", "after-setting",
                                          "after-decoration")] == [None, None, None]


def test_comments_and_lines_stay_in_the_written_jobfile() -> None:
    text = imported("# header\n\nFOO=1\n# 0 3 * * * old\n0 2 * * * backup%in\n").text
    assert "  # header\n" in text and "  # 0 3 * * * old\n" in text
    assert "  # tab:3: FOO=1\n" in text
    assert "  # tab:5: 0 2 * * * backup%in\n  backup:\n" in text


@pytest.mark.parametrize(("line", "column"), [("*/2 * * * * * * ls 2>/dev/null", 13),
                                              ("0 0 1 1 * 2030 /bin/go", 11)],
                         ids=["seconds-and-year", "year"])
def test_supercronics_extra_time_fields_are_refused_not_run_as_a_command(
    line: str, column: int
) -> None:
    # cron would run '* * ls' (the shell's glob: the first file here) or '2030 /bin/go'.
    result = imported(line + "\n")
    (problem,) = result.problems
    assert problem.column == column
    assert problem.message.startswith(f"the command starts with {line.split()[5]!r}, a sixth "
                                      "time field (supercronic's seconds or year)")
    assert problem.message.endswith(
        "write this job in a jobfile instead, where cron: takes six fields with seconds first "
        "('*/2 * * * * *'), or keyword fields with a year ({year: 2030, ...})")


BROKEN = [
    (3, 1, "cron expression '0 0 30 2 *' never fires: February has no 30th"),
    (4, 1, "cron expression '61 * * * *': minute 61 is out of range 0-59"),
    (5, 8, "no day-of-week field"),
    (6, 1, "unknown macro"),
    (7, 1, "'BAD-NAME' cannot be an environment variable's name"),
    (8, 1, "unknown timezone 'Mars/Olympus'"),
    (9, 14, "'root' looks like the user column of /etc/crontab or /etc/cron.d"),
    (10, 14, "the command is empty"),
]


def test_lines_that_cannot_be_converted_are_reported_and_kept() -> None:
    path = CORPUS / "users" / "broken"
    result = import_crontabs([CrontabParser().parse(path.read_text(), "broken")], "jobs.yaml")
    found = [(p.filename, p.line, p.column) for p in result.problems]
    assert found == [("broken", line, column) for line, column, _ in BROKEN]
    for problem, (_, _, words) in zip(result.problems, BROKEN, strict=True):
        assert words in problem.message
        assert f"  # CANNOT CONVERT broken:{problem.line}: {problem.message}" in result.text
    assert list(result.jobfile.jobs) == ["echo"]  # the one good line
    assert parse_jobfile(result.text, "jobs.yaml").jobs.keys() == {"echo"}


def test_ids_are_unique_across_files() -> None:
    tabs = [CrontabParser().parse("0 1 * * * backup\n", "a"),
            SystemCrontabParser().parse("0 2 * * * root backup --full\n", "b")]
    result = import_crontabs(tabs, "jobs.yaml")
    assert list(result.jobfile.jobs) == ["backup", "backup-2"]
    assert [spec.line for spec in result.jobfile.jobs.values()] == [1, 1]
    assert "  # ---- a ----" in result.text and "  # ---- b ----" in result.text


def test_a_crontab_without_jobs_is_an_empty_jobfile() -> None:
    result = imported("# nothing yet\nMAILTO=root\n")
    assert result.problems == [] and result.jobfile.jobs == {}
    assert "jobs: {}" in result.text


# -- whatever the text, the jobfile reads back the same -------------------------------------------

_TEXT = st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)),
                max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_TEXT.filter(lambda raw: raw.strip(" \t") and raw.lstrip(" \t")[0] != "%"),
       value=_TEXT, description=_TEXT.filter(lambda d: d.strip(" \t")))
def test_commands_stdin_env_and_descriptions_read_back_exactly(
    raw: str, value: str, description: str
) -> None:
    line = CrontabParser().line("tab", 3, f"0 2 * * * {raw}")
    body = f'# {description}\nVALUE="{value}"\n{line.text}\n'
    result = import_crontabs([CrontabParser().parse(body, "tab")], "jobs.yaml")
    if result.problems:  # only a line cron refuses, an unlikely user column or time field
        message = result.problems[0].message
        assert not line.command.strip() or "user column" in message or "time field" in message
        return
    (spec,) = parse_jobfile(result.text, "jobs.yaml").jobs.values()
    assert (spec.command, spec.stdin) == (line.command, line.stdin)
    assert spec.env["VALUE"] == value
    expected = description.strip() if any(c.isalnum() for c in description) else None
    assert spec.description in (expected, None)
