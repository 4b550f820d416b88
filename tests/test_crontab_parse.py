"""Reading crontab files as Debian's cron does: lines, environment settings, the % rule,
the user column, file names in cron.d, and telling a crontab from a jobfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedctl.crontab.files import is_system_path, looks_like_crontab
from schedctl.crontab.lines import Assignment, BadLine, Blank, Comment, Entry
from schedctl.crontab.parse import (
    CrontabParser,
    SystemCrontabParser,
    parse_assignment,
    split_percent,
)

ROOT = Path(__file__).resolve().parent.parent

# (raw text after the time fields, command, stdin)
PERCENT = [
    ("plain", "echo hi", "echo hi", None),
    ("escaped", r"date +\%Y-\%m-\%d", "date +%Y-%m-%d", None),
    ("stdin-lines", "mail -s hi root%line 1%line 2", "mail -s hi root", "line 1\nline 2"),
    ("trailing-percent", "cat%a%", "cat", "a\n"),
    ("empty-stdin", "cat%", "cat", ""),
    ("double-percent", "cat%%", "cat", "\n"),
    ("escaped-in-stdin", r"cat%50\% done%", "cat", "50% done\n"),
    ("backslash-kept", r"echo a\b%c\d", r"echo a\b", r"c\d"),
    ("escaped-backslash-then-percent", "echo \\\\%x", "echo \\\\", "x"),
    ("backslash-at-end-of-stdin", "cat%end\\", "cat", "end\\"),
    ("two-backslashes-in-stdin", "cat%a\\\\b", "cat", "a\\\\b"),
    ("backslashes-then-percent-in-stdin", "cat%a\\\\%b", "cat", "a\\%b"),
]


@pytest.mark.parametrize(("raw", "command", "stdin"), [c[1:] for c in PERCENT],
                         ids=[c[0] for c in PERCENT])
def test_the_percent_rule(raw: str, command: str, stdin: str | None) -> None:
    assert split_percent(raw) == (command, stdin)


# (line, (name, value) or None for "not an environment line", or a str: why it is malformed)
ASSIGNMENTS = [
    ("simple", "FOO=bar", ("FOO", "bar")),
    ("blanks-around", "  FOO =\tbar baz  ", ("FOO", "bar baz")),
    ("double-quoted", 'GREETING="  hello  "', ("GREETING", "  hello  ")),
    ("single-quoted", "QUOTED='x y'", ("QUOTED", "x y")),
    ("empty", "FOO=", ("FOO", "")),
    ("empty-quotes", 'MAILTO=""', ("MAILTO", "")),
    ("quoted-name", '"MY VAR"=v', ("MY VAR", "v")),
    ("hash-is-value", "PATH=/a:/b # kept", ("PATH", "/a:/b # kept")),
    ("equals-in-value", "OPTS=a=b", ("OPTS", "a=b")),
    ("no-variable-expansion", "PATH=$HOME/bin:$PATH", ("PATH", "$HOME/bin:$PATH")),
    ("job-with-assignment", "0 * * * * FOO=bar cmd", None),
    ("macro-job", "@daily FOO=1 cmd", None),
    ("unterminated-quote", 'FOO="abc', "does not end the line"),
    ("quote-not-at-end", "FOO='a' b", "does not end the line"),
]


@pytest.mark.parametrize(("line", "expected"), [c[1:] for c in ASSIGNMENTS],
                         ids=[c[0] for c in ASSIGNMENTS])
def test_environment_lines(line: str, expected: tuple[str, str] | str | None) -> None:
    result = parse_assignment(line)
    if isinstance(expected, str):
        assert isinstance(result, str) and expected in result
    else:
        assert result == expected


def parse_user(text: str) -> list:
    return CrontabParser().parse(text, "tab").lines


def test_each_kind_of_line_with_its_number_and_text() -> None:
    text = "\n  \t\n# a comment\n  # indented\nFOO=1\n0 * * * * cmd\n@reboot  run it\n* * * *\n"
    lines = parse_user(text)
    assert [type(line) for line in lines] == [Blank, Blank, Comment, Comment, Assignment,
                                              Entry, Entry, BadLine]
    assert [line.number for line in lines] == list(range(1, 9))
    assert lines[3].text == "  # indented" and lines[3].body == " indented"
    assert (lines[6].schedule, lines[6].command) == ("@reboot", "run it")


@pytest.mark.parametrize(
    ("line", "schedule", "command"),
    [("17 *\t* * *\tcd / && run-parts /etc/cron.hourly", "17 * * * *",
      "cd / && run-parts /etc/cron.hourly"),
     ("  */5 1-5 * jan,JUL mon-fri   two  spaces kept  ", "*/5 1-5 * jan,JUL mon-fri",
      "two  spaces kept  "),
     ("@Hourly\tcmd # not a comment", "@Hourly", "cmd # not a comment")],
    ids=["tabs", "blanks", "macro"],
)
def test_a_job_line_splits_into_schedule_and_command(line: str, schedule: str, command: str) -> None:
    (entry,) = parse_user(line)
    assert isinstance(entry, Entry)
    assert (entry.schedule, entry.command, entry.user) == (schedule, command, None)


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [("* * * *", 8, "no day-of-week field"),
     ("0 * * * *", 10, "no command"),
     ("0 * * * *    ", 14, "no command"),
     ("@daily", 7, "no command"),
     ("0 * * * * %stdin only", 11, "the command is empty")],
    ids=["four-fields", "no-command", "blanks-only", "macro-alone", "percent-first"],
)
def test_lines_cron_refuses(line: str, column: int, reason: str) -> None:
    (bad,) = parse_user(line)
    assert isinstance(bad, BadLine)
    assert reason in bad.reason and bad.column == column


def test_the_system_format_reads_a_user_column() -> None:
    lines = SystemCrontabParser().parse(
        "0 * * * * root cd / && ls\n@daily www-data php x.php\n0 * * * * root\n0 * * * *\n", "t").lines
    assert [(line.user, line.command) for line in lines[:2]] == [
        ("root", "cd / && ls"), ("www-data", "php x.php")]
    assert "no command" in lines[2].reason
    assert "no user column" in lines[3].reason


def test_line_ends_crlf_and_no_final_newline() -> None:
    lines = parse_user("0 * * * * first\r\n0 * * * * last")
    assert [line.command for line in lines] == ["first", "last"]


@pytest.mark.parametrize(
    ("path", "system"),
    [("/etc/crontab", True), ("/etc/cron.d/php", True), ("tests/etc/cron.d/x", True),
     ("/var/spool/cron/crontabs/alice", False), ("/home/alice/crontab", False),
     ("/etc/crontab.bak", False)],
)
def test_which_paths_have_a_user_column(path: str, system: bool) -> None:
    assert is_system_path(path) is system


@pytest.mark.parametrize(
    "path",
    ["jobs.example.yaml", "tests/jobfiles/full.yaml", "tests/jobfiles/broken.yaml"],
)
def test_a_jobfile_is_not_a_crontab(path: str) -> None:
    assert not looks_like_crontab((ROOT / path).read_text())


@pytest.mark.parametrize(
    "text",
    ["jobs:\n  a: {command: x, cron: '* * * * *'}\n", "{jobs: {}}\n", "# only comments\n\n",
     "", "---\njobs: {}\n", "jobs:\n  b:\n    command: FOO=1 run\n",
     "# jobs:\n#   backup:\n#     cron: '0 2 * * *'\n",
     "jobs: {}\n# 0 2 * * * backup was here\n"],
    ids=["mapping", "flow", "comments", "empty", "document-marker", "assignment-inside",
         "jobfile-commented-out", "jobfile-commenting-a-cron-line"],
)
def test_yaml_text_is_not_a_crontab(text: str) -> None:
    assert not looks_like_crontab(text)


@pytest.mark.parametrize(
    "text",
    ["0 2 * * * backup\n", "# header\nMAILTO=root\n\n*/5 * * * * tick\n", "@reboot start\n",
     "SHELL=/bin/bash\n", "30 2 * * mon-fri  run: with a colon\n",
     "# Note: all off for now\n#MAILTO=root\n# 0 2 * * * backup\n#@reboot start\n"],
    ids=["job", "header-and-env", "macro", "env-only", "colon-in-command",
         "every-line-commented-out"],
)
def test_crontab_text_is_a_crontab(text: str) -> None:
    assert looks_like_crontab(text)


def test_the_corpus_is_recognised() -> None:
    files = [p for p in (ROOT / "tests" / "data" / "crontabs").rglob("*") if p.is_file()
             and p.stat().st_size]
    assert len(files) >= 8
    assert all(looks_like_crontab(path.read_text()) for path in files)
