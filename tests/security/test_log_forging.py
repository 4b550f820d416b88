"""A job's output cannot forge schedctl's log, steer a terminal, or flood the journal.

The job is a real command printing the lines an attacker would: a carriage return that
rewrites the start of the line, an OSC 52 sequence that sets a terminal's clipboard, and
a Unicode line separator followed by a fake event. Each format must keep every such line
visibly output: one record per printed line, escaped, and unlike any event line.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedctl.commands.capture import human_size
from schedctl.commands.escape import escape_text
from schedctl.commands.runner import CommandSpec, run_command
from schedctl.service.logfmt import JournalFormatter, JsonFormatter, TextFormatter
from tests.cli.helpers import read_runs, wait_until

#: What the forger prints, one line each; the last line is an honest one.
PAYLOADS = [
    "\rjunk ERROR backup: failed",
    "\x1b]52;c;cm0gLXJmIC8=\x07copied",
    "y\u2028backup: success exit 0 in 5ms",
    "\x1b[2K\x1b[1G2026-01-01 00:00:00 INFO    backup: success exit 0 in 5ms",
    "z\u0085<3>backup: failed\u2029<6>backup: success",
    "plain text",
]
FORGER = "printf '%s\\n' " + " ".join("'" + line.replace("'", "'\\''") + "'" for line in PAYLOADS)

#: What an event line of each format looks like: what no output line may look like.
EVENT_LINE = {
    "text": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d [A-Z]+ +[A-Za-z0-9_.@:-]+: "),
    "journal": re.compile(r"^<\d>[A-Za-z0-9_.@:-]+: "),
}
RAW = re.compile("[\r\x1b\x07\u0085\u2028\u2029]")
FORMATTERS = {"text": lambda: TextFormatter(colour=False), "journal": JournalFormatter,
              "json": JsonFormatter}


@pytest.fixture
def logged(request) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FORMATTERS[request.param]())
    logger = logging.getLogger(f"schedctl.job.forger-{request.param}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize("logged", list(FORMATTERS), indirect=True)
def test_no_line_a_job_prints_passes_for_an_event(logged) -> None:
    logger, stream = logged
    result = run_command(CommandSpec(command=FORGER), job_id="forger", logger=logger)
    assert result.ok
    lines = stream.getvalue().split("\n")[:-1]

    assert len(lines) == len(PAYLOADS)  # one record per printed line: no line was split
    assert not any(RAW.search(line) for line in lines)
    fmt = logger.name.rsplit("-", 1)[1]
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert {(r["event"], r["job_id"]) for r in records} == {("output", "forger")}
        assert [r["message"] for r in records] == [
            f"[forger] {escape_text(line)}" for line in PAYLOADS]
        return
    assert not any(EVENT_LINE[fmt].match(line) for line in lines)
    assert all("[forger] " in line for line in lines)
    assert lines[-1].endswith("[forger] plain text")
    assert "[forger] \\rjunk ERROR backup: failed" in lines[0]
    assert "\\x1b]52;c;cm0gLXJmIC8=\\acopied" in lines[1]
    assert "y\\u2028backup: success exit 0 in 5ms" in lines[2]


@pytest.mark.parametrize("fmt", ["text", "journal"])
def test_a_record_of_several_lines_indents_all_but_its_first(fmt) -> None:
    """A Python job's exception message is text it controls, logged inside an event."""
    message = "report: error - ValueError: x\n2026-01-01 00:00:00 INFO    report: success\n<6>a: b"
    record = logging.LogRecord("schedctl.events", logging.ERROR, __file__, 1, message, (), None)
    first, *rest = FORMATTERS[fmt]().format(record).split("\n")
    assert "report: error - ValueError: x" in first
    assert len(rest) == 2 and not any(EVENT_LINE[fmt].match(line) for line in rest)


def test_the_journal_splits_only_at_line_feeds() -> None:
    record = logging.LogRecord("schedctl.events", logging.INFO, __file__, 1,
                               "a\u2028<3>b\x0bc\x1cd", (), None)
    assert JournalFormatter().format(record) == "<6>a\\u2028<3>b\\vc\\x1cd"


def test_what_is_logged_of_one_run_is_capped_and_the_rest_counted(caplog) -> None:
    printed = 300_000 * 17
    spec = CommandSpec(command="yes 0123456789abcdef | head -n 300000", log_limit=100_000,
                       output_limit=1000)
    with caplog.at_level(logging.INFO, logger="schedctl.job.chatty"):
        result = run_command(spec, job_id="chatty")

    lines = [r.getMessage() for r in caplog.records if r.name == "schedctl.job.chatty"]
    assert set(lines[:-2]) == {"[chatty] 0123456789abcdef"}
    logged = 17 * len(lines[:-2])
    assert 100_000 - 17 < logged <= 100_000
    assert lines[-2] == ("[chatty] [... log_limit of 100.0 KB reached: the rest of this "
                         "run's output is counted, not logged ...]")
    assert lines[-1] == (f"[chatty] [... {human_size(printed - logged)} of output not logged "
                         "(log_limit 100.0 KB); the history keeps the last 1.0 KB ...]")
    assert result.output_tail == (f"[... {human_size(printed - 1000)} truncated ...]\n"
                                  + "0123456789abcdef\n"[-(1000 % 17):] + "0123456789abcdef\n" * 58)


# -- end to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "journal", "json"])
def test_the_running_scheduler_logs_forged_lines_as_output(fmt, tmp_path: Path, cli_env,
                                                           schedctl, scheduler) -> None:
    state = tmp_path / "state.db"
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text(
        f"state: {state}\njobs:\n  forger:\n    command: {json.dumps(FORGER)}\n"
        "    cron: '0 0 1 1 *'\n")
    daemon = scheduler(jobfile, "--log-format", fmt)
    assert schedctl("run-now", "--state", state, "forger").returncode == 0
    wait_until(lambda: [r for r in read_runs(state, "forger") if r.state == "success"], 10,
               what="the forger's run", context=daemon.log)
    daemon.wait_for_log("forger: success" if fmt != "json" else '"outcome": "success"')

    lines = daemon.log().split("\n")[:-1]
    assert not any(RAW.search(line) for line in lines)
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        events = [r for r in records if r.get("job_id") == "forger" and r["event"] != "output"
                  and r["logger"] != "schedctl.audit"]  # the run-now's who-asked line
        assert [r["event"] for r in events] == ["started", "success"]
        assert len([r for r in records if r.get("event") == "output"]) == len(PAYLOADS)
        return
    events = [line for line in lines if EVENT_LINE[fmt].match(line) and "forger" in line
              and "run requested by" not in line]  # the run-now's who-asked line
    assert len(events) == 2 and "forger: started" in events[0] and "forger: success" in events[1]
    assert len([line for line in lines if "[forger] " in line]) == len(PAYLOADS)
    [row] = read_runs(state, "forger")
    assert row.output == "".join(f"{line}\n" for line in PAYLOADS)  # the history keeps it as printed
    shown = schedctl("history", "--output", "--state", state, "forger").stdout
    assert not RAW.search(shown)
    assert "\\x1b]52;c;cm0gLXJmIC8=\\acopied" in shown and "y\\u2028backup" in shown


def test_a_job_that_prints_100_mb_puts_about_log_limit_into_the_log(tmp_path: Path, schedctl,
                                                                    scheduler) -> None:
    state = tmp_path / "state.db"
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text(
        f"state: {state}\njobs:\n  flood:\n    command: yes 0123456789abcdef | head -n 5900000\n"
        "    cron: '0 0 1 1 *'\n")
    daemon = scheduler(jobfile, "--log-format", "journal")
    assert schedctl("run-now", "--state", state, "flood").returncode == 0
    daemon.wait_for_log("flood: success", 30)

    size = daemon.log_path.stat().st_size
    assert 1024 * 1024 < size < 2 * 1024 * 1024  # 1 MiB of output (log_limit), with prefixes
    assert re.search(r"<6>\[flood\] \[\.\.\. 99\.\d MB of output not logged \(log_limit "
                     r"1\.0 MB\)", daemon.log())
    [row] = read_runs(state, "flood")
    assert row.output.startswith("[... 100.2 MB truncated ...]\n")
    assert row.output.endswith("0123456789abcdef\n")
