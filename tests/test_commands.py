"""The command runner against real processes and real signals: no mocks, no sleeps in the tests.

Commands may sleep briefly themselves; the tests never sleep to wait for logic.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import re
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedctl.commands import spawn
from schedctl.commands.capture import MAX_LINE, OutputCapture, human_size
from schedctl.commands.outcome import summarize
from schedctl.commands.processes import _DRAIN_MAX, ProcessRegistry
from schedctl.commands.runner import execute_command, run_command
from schedctl.commands.running import RunningCommand
from schedctl.commands.spec import (
    CommandFailedError,
    CommandResult,
    CommandSpec,
    CommandSpecError,
    ENV_FILE_LIMIT,
    EnvFileError,
    format_seconds,
    inherited_environ,
    parse_env_file,
)
from schedctl.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from tests.conftest import START


def run(command: str | tuple[str, ...], **settings) -> CommandResult:
    return run_command(CommandSpec(command, **settings), job_id="t")


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaped yet (PID 1 may not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in (b"Z", b"X")


def pids_in(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)$", text, re.MULTILINE)]


@pytest.fixture(params=["pidfd", "waitid"])
def exit_watch(request, monkeypatch) -> str:
    """Both ways of noticing the child's exit: pidfd, and waitid polling where pidfd is missing."""
    if request.param == "waitid":
        monkeypatch.setattr(spawn, "_pidfd_open", None)
    return request.param


@pytest.fixture
def leftover_pids() -> Iterator[list[int]]:
    """Pids a test leaves running on purpose; killed afterwards whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe a command writes to when it is ready: a handshake instead of a sleep."""
    path = tmp_path / "ready"
    os.mkfifo(path)
    return path


# -- outcomes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "outcome", "exit_code"),
    [
        ("true", "success", 0),
        ("exit 3", "failed", 3),
        (("false",), "failed", 1),
        (("sh", "-c", "exit 0"), "success", 0),
        ("exit 255", "failed", 255),
    ],
    ids=["shell-true", "shell-exit-3", "argv-false", "argv-sh", "exit-255"],
)
def test_exit_codes(exit_watch, command, outcome, exit_code):
    result = run(command)
    assert (result.outcome, result.exit_code, result.signal) == (outcome, exit_code, None)
    assert result.ok is (outcome == "success")
    assert result.pid and result.started_at and result.started_at <= result.finished_at


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("echo $SCHEDCTL_JOB_ID", "t\n"),
        (("echo", "$SCHEDCTL_JOB_ID"), "$SCHEDCTL_JOB_ID\n"),
        ("echo a b | tr ' ' '-'", "a-b\n"),
        (("echo", "a b", "*"), "a b *\n"),
    ],
    ids=["shell-expands", "argv-is-literal", "shell-pipeline", "argv-no-glob"],
)
def test_shell_string_versus_argv(command, expected):
    assert run(command).output_tail == expected


def test_shell_setting_picks_the_interpreter():
    result = run("echo ${BASH_VERSION:+bash}", shell="/bin/bash")
    assert result.output_tail == "bash\n"


def test_environment_layers(tmp_path, monkeypatch):
    monkeypatch.setenv("INHERITED", "from-parent")
    monkeypatch.setenv("OVERRIDDEN", "from-parent")
    env_file = tmp_path / "job.env"
    env_file.write_text("FROM_FILE=file\nBOTH=file\n")
    spec = CommandSpec(
        ("env",), env={"OVERRIDDEN": "from-spec", "BOTH": "spec"}, env_file=str(env_file)
    )
    result = run_command(spec, job_id="envjob", extra_env={"SCHEDCTL_RUN_ID": "42"})
    env = dict(line.split("=", 1) for line in result.output_tail.splitlines())
    assert {
        k: env[k]
        for k in (
            "INHERITED",
            "OVERRIDDEN",
            "FROM_FILE",
            "BOTH",
            "SCHEDCTL_JOB_ID",
            "SCHEDCTL_RUN_ID",
        )
    } == {
        "INHERITED": "from-parent",
        "OVERRIDDEN": "from-spec",
        "FROM_FILE": "file",
        "BOTH": "spec",
        "SCHEDCTL_JOB_ID": "envjob",
        "SCHEDCTL_RUN_ID": "42",
    }



def test_inherited_environment_is_read_at_each_run(monkeypatch):
    """The bytes copy of the environment sees changes made after start-up, undecodable
    values included, and each run gets a copy of its own."""
    monkeypatch.setenv("LATE", "set-after-import")
    monkeypatch.setitem(os.environb, b"RAW", b"caf\xe9")  # Latin-1, not UTF-8
    first = inherited_environ()
    assert first == dict(os.environb)
    first[b"LATE"] = b"changed"
    assert inherited_environ()[b"LATE"] == b"set-after-import"
    result = run(("sh", "-c", 'printf %s "$RAW" | od -An -tx1'))
    assert result.output_tail.split() == ["63", "61", "66", "e9"]

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two words\n", {"A": "1", "B": "two words"}),
        ("# comment\n\n   \nA=1\n", {"A": "1"}),
        ("export A=1\n", {"A": "1"}),
        (
            "A=\"quoted # not a comment\"\nB='single'\n",
            {"A": "quoted # not a comment", "B": "single"},
        ),
        ("  A = spaced  \n", {"A": "spaced"}),
        ("URL=postgres://u:p@h/db?a=b\n", {"URL": "postgres://u:p@h/db?a=b"}),
        ('EMPTY=\nQ=""\n', {"EMPTY": "", "Q": ""}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("A=$HOME\n", {"A": "$HOME"}),
    ],
    ids=[
        "plain",
        "comments-blanks",
        "export",
        "quotes",
        "spaces",
        "equals-in-value",
        "empty",
        "last-wins",
        "no-interpolation",
    ],
)
def test_env_file_parsing(tmp_path, text, expected):
    path = tmp_path / "x.env"
    path.write_text(text)
    assert parse_env_file(str(path)) == expected


@pytest.mark.parametrize(
    "text",
    ["A=1\nhunter2-secret\n", "A=1\nBAD NAME=hunter2-secret\n", "1X=hunter2-secret\n"],
    ids=["no-equals", "space-in-name", "digit-first"],
)
def test_env_file_errors_name_the_line_never_the_value(tmp_path, text):
    path = tmp_path / "x.env"
    path.write_text(text)
    with pytest.raises(EnvFileError) as info:
        parse_env_file(str(path))
    assert f"line {text.count(chr(10))}" in str(info.value)
    assert "hunter2" not in str(info.value)


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "x.env"
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir(mode=0o700)
    else:
        path.write_bytes(b"A=" + b"x" * ENV_FILE_LIMIT + b"\n")
    return path


@pytest.mark.parametrize(("kind", "problem"), [
    ("fifo", "is not a regular file (a FIFO)"),
    ("dev-zero-link", "is not a regular file (a character device)"),
    ("directory", "is not a regular file (a directory)"),
    ("over-1-mib", f"is {ENV_FILE_LIMIT + 3} bytes, over the limit of 1 MiB"),
], ids=["fifo", "dev-zero-link", "directory", "over-1-mib"])
def test_an_env_file_that_could_stall_a_run_is_refused_unread(tmp_path, kind, problem):
    """A FIFO would wait for a writer and /dev/zero never ends: the run does not start,
    and says which file and why, at once (no writer ever opens the FIFO)."""
    path = _special(tmp_path, kind)
    outcome: list[CommandResult] = []
    worker = threading.Thread(target=lambda: outcome.append(run("true", env_file=str(path))),
                              daemon=True)
    worker.start()
    worker.join(30)  # only a safety net: a stalled read would hang the suite

    assert outcome, "the run waited on its env_file"
    assert outcome[0].outcome == "not_started"
    assert outcome[0].error == f"env_file {str(path)!r} {problem}; " + (
        "keep only KEY=VALUE lines in it" if kind == "over-1-mib" else
        "name a file of KEY=VALUE lines")


def test_an_env_file_up_to_the_limit_and_dev_null_are_read(tmp_path):
    path = tmp_path / "x.env"
    path.write_bytes(b"A=" + b"x" * (ENV_FILE_LIMIT - 3) + b"\n")
    assert len(parse_env_file(str(path))["A"]) == ENV_FILE_LIMIT - 3
    assert parse_env_file("/dev/null") == {}


def test_cwd_sets_the_directory(tmp_path):
    assert run(("pwd",), cwd=str(tmp_path)).output_tail == f"{tmp_path}\n"


def test_stdin_is_dev_null():
    assert run(("readlink", "/proc/self/fd/0")).output_tail == "/dev/null\n"
    result = run("cat", timeout=5)
    assert (result.outcome, result.output_tail) == ("success", "")


@pytest.mark.parametrize("text", ["", "one line", "two\nlines\n", "\u00e9t\u00e9 \\% ok"],
                         ids=["empty", "no-newline", "lines", "utf8"])
def test_stdin_text_is_the_commands_input_exactly(text):
    result = run("cat; echo '|'", stdin=text, timeout=5)
    assert (result.outcome, result.output_tail) == ("success", text + "|\n")


def test_stdin_larger_than_a_pipe_does_not_block_a_command_that_never_reads():
    result = run("echo started", stdin="x" * (1024 * 1024), timeout=5)
    assert (result.outcome, result.output_tail) == ("success", "started\n")


@pytest.mark.parametrize(
    "signum",
    [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV],
    ids=["SIGKILL", "SIGTERM", "SIGSEGV"],
)
def test_killed_by_a_signal(exit_watch, signum):
    result = run(f"kill -{int(signum)} $$")
    assert (result.outcome, result.exit_code, result.signal) == ("killed", None, signum)
    assert result.describe().startswith(f"killed by {signum.name} after ")


# -- timeouts, termination, the process group -----------------------------------------------


def test_timeout_kills_the_whole_group(exit_watch):
    result = run("sleep 1000 & echo $!; sleep 1000", timeout=0.3, kill_grace=5)
    (grandchild,) = pids_in(result.output_tail)
    assert (result.outcome, result.signal, result.exit_code) == ("timeout", signal.SIGTERM, None)
    assert result.error == "timed out after 300ms; sent SIGTERM"
    assert result.describe() == "timed out after 300ms"
    assert result.pid is not None
    assert not alive(grandchild) and not alive(result.pid)
    assert 0.3 <= result.duration < 5


def test_a_command_ignoring_sigterm_gets_sigkill_after_the_grace(exit_watch):
    result = run("trap '' TERM; sleep 1000 & echo $!; sleep 1000", timeout=0.3, kill_grace=0.3)
    (grandchild,) = pids_in(result.output_tail)
    assert (result.outcome, result.signal) == ("timeout", signal.SIGKILL)
    assert result.error == "timed out after 300ms; sent SIGTERM, then SIGKILL after 300ms"
    assert result.duration >= 0.6
    assert not alive(grandchild)


def test_a_grandchild_ignoring_sigterm_is_killed_when_the_grace_ends():
    # The shell dies at SIGTERM at once; its background child ignores it and must not survive.
    result = run(
        "(trap '' TERM; exec sleep 1000) & echo $!; sleep 1000", timeout=0.3, kill_grace=0.3
    )
    (grandchild,) = pids_in(result.output_tail)
    assert (result.outcome, result.signal) == ("timeout", signal.SIGTERM)
    assert str(result.error).endswith("then SIGKILL after 300ms")
    assert not alive(grandchild)


def test_terminate_from_another_thread_interrupts_the_run():
    command = RunningCommand.start(CommandSpec("sleep 1000 & echo $!; sleep 1000"), job_id="t")
    stopper = threading.Thread(target=command.terminate, args=(5.0,))
    stopper.start()
    result = command.wait()
    stopper.join()
    assert (result.outcome, result.signal) == ("interrupted", signal.SIGTERM)
    assert str(result.error).startswith("interrupted by the scheduler after ")
    assert not any(alive(pid) for pid in pids_in(result.output_tail))
    command.terminate(0)  # over and done: a no-op, never a signal to a recycled pid
    assert command.wait() is result


def test_a_run_stopped_for_a_newer_one_is_replaced_not_interrupted(fifo):
    command = RunningCommand.start(CommandSpec(f"echo ready > {fifo}; sleep 1000"), job_id="t")
    fifo.read_text()
    command.terminate(5.0, reason="replaced")
    command.terminate(0.0)  # a later stop (shutdown) only shortens the grace
    result = command.wait()
    assert result.outcome == "replaced"
    assert str(result.error).startswith("replaced by a newer run after ")
    assert "(overlap: replace); sent SIGTERM" in str(result.error)
    assert summarize(result.outcome, error=result.error).startswith("replaced by a newer run")


def test_a_second_terminate_can_only_shorten_the_grace(fifo):
    command = RunningCommand.start(
        CommandSpec(f"trap '' TERM; echo ready > {fifo}; sleep 1000"), job_id="t"
    )
    fifo.read_text()  # returns once the trap is in place
    command.terminate(60)
    command.terminate(0.2)
    command.terminate(120)
    result = command.wait()
    assert (result.outcome, result.signal) == ("interrupted", signal.SIGKILL)
    assert str(result.error).endswith("sent SIGTERM, then SIGKILL after 200ms")


def test_terminate_wakes_a_thread_blocked_in_wait(fifo):
    # The waiting thread has no deadline of its own: only terminate() can wake it to SIGKILL.
    command = RunningCommand.start(
        CommandSpec(f"trap '' TERM; echo ready > {fifo}; sleep 1000"), job_id="t"
    )
    fifo.read_text()
    waiter = threading.Thread(target=command.wait)
    waiter.start()
    command.terminate(0.2)
    waiter.join(timeout=10)
    assert command.result is not None
    assert (command.result.outcome, command.result.signal) == ("interrupted", signal.SIGKILL)


def test_a_waiting_thread_keeps_one_wake_fd_and_a_stale_wake_harms_no_later_run(fifo):
    """Each waiting thread wakes on one eventfd of its own, across its runs: a stop meant
    for a run that ended must not end the next one, and a stop still wakes it."""
    outcomes: list[tuple[str, int | None]] = []
    commands: list[RunningCommand] = []

    def two_runs() -> None:
        for _ in range(2):
            command = RunningCommand.start(
                CommandSpec(f"trap '' TERM; echo ready > {fifo}; sleep 1000"), job_id="t")
            commands.append(command)
            result = command.wait()
            outcomes.append((result.outcome, result.signal))

    waiter = threading.Thread(target=two_runs)
    waiter.start()
    fifo.read_text()
    commands[0].terminate(0.2)
    commands[0].terminate(0.1)  # a second wake-up, perhaps left for the next run to find
    fifo.read_text()
    second = commands[1]
    assert second.result is None  # the stale wake-up did not end it
    second.terminate(0.2)
    waiter.join(timeout=10)
    assert outcomes == [("interrupted", signal.SIGKILL)] * 2


def test_wake_fds_end_with_their_threads():
    def eventfds() -> int:
        return sum("eventfd" in os.readlink(f"/proc/self/fd/{fd}")
                   for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))

    before = eventfds()
    for _ in range(5):
        worker = threading.Thread(target=run, args=(("true",),))
        worker.start()
        worker.join()
    assert eventfds() == before


def test_kill_is_immediate():
    command = RunningCommand.start(CommandSpec("trap '' TERM; sleep 1000"), job_id="t")
    command.kill()
    result = command.wait()
    assert (result.outcome, result.signal) == ("interrupted", signal.SIGKILL)
    assert str(result.error).endswith("; sent SIGKILL")


def test_wait_with_a_timeout_raises_and_can_resume():
    command = RunningCommand.start(CommandSpec(("sleep", "0.3")), job_id="t")
    with pytest.raises(TimeoutError):
        command.wait(timeout=0.01)
    assert command.result is None
    assert command.wait().outcome == "success"


def test_registry_stops_one_job_or_all_of_them():
    registry = ProcessRegistry()
    first = RunningCommand.start(CommandSpec(("sleep", "1000")), job_id="first")
    second = RunningCommand.start(CommandSpec(("sleep", "1000")), job_id="second")
    registry.add(first)
    registry.add(second)
    waiter = threading.Thread(target=first.wait)  # a job thread already waits on this one
    waiter.start()
    assert registry.terminate_job("first", grace=5) == []
    waiter.join()
    assert first.result is not None and first.result.outcome == "interrupted"
    assert second.result is None
    # Nobody waits on the second: terminate_all does the waiting (and any SIGKILL) itself.
    assert registry.terminate_all(grace=5) == []
    assert second.result is not None and second.result.outcome == "interrupted"


def test_run_command_registers_only_while_running():
    registry = ProcessRegistry()
    result = run_command(CommandSpec("true"), job_id="t", registry=registry)
    assert result.ok and registry.running() == []


# -- commands that cannot start, or behave badly ----------------------------------------------


@pytest.fixture
def not_executable(tmp_path: Path) -> Path:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return script


def test_commands_that_cannot_start(tmp_path, not_executable):
    bad_interpreter = tmp_path / "bad.sh"
    bad_interpreter.write_text("#!/no/such/interpreter\n")
    bad_interpreter.chmod(0o755)
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = {
        "command not found: 'nosuchcmd-xyz'": run(("nosuchcmd-xyz", "arg")),
        f"permission denied: '{not_executable}' is not executable": run((str(not_executable),)),
        "permission denied: './script.sh' is not executable": run(
            ("./script.sh",), cwd=str(not_executable.parent)
        ),
        "working directory does not exist: '/nonexistent/dir'": run("true", cwd="/nonexistent/dir"),
        f"working directory is not a directory: '{a_file}'": run("true", cwd=str(a_file)),
        "shell not found: '/no/such/shell'": run("true", shell="/no/such/shell"),
        f"interpreter not found: the #! line of '{bad_interpreter}' names a missing program": run(
            (str(bad_interpreter),)
        ),
        f"env_file not found: '{tmp_path}/missing.env'": run(
            "true", env_file=f"{tmp_path}/missing.env"
        ),
    }
    for message, result in cases.items():
        assert (result.outcome, result.error) == ("not_started", message)
        assert (result.exit_code, result.signal, result.pid, result.started_at) == (None,) * 4
        assert result.describe() == "not started"


@pytest.mark.parametrize(
    ("command", "exit_code", "hint"),
    [("nosuchcmd-xyz", 127, "command not found"), ("/etc/passwd", 126, "command not executable")],
    ids=["127", "126"],
)
def test_shell_reported_start_failures_are_failures_with_a_hint(command, exit_code, hint):
    result = run(command)
    assert (result.outcome, result.exit_code) == ("failed", exit_code)
    # The exit code and duration are fields of their own: the sentence does not repeat them.
    assert result.error == f"{hint} (reported by /bin/sh)"


def test_a_command_that_closes_its_output_runs_until_it_exits(exit_watch):
    result = run("echo before; exec >&- 2>&-; sleep 0.3; exit 4")
    assert (result.outcome, result.exit_code, result.output_tail) == ("failed", 4, "before\n")
    assert result.duration >= 0.3


def test_a_command_that_forks_a_daemon_ends_when_it_exits(exit_watch, leftover_pids, caplog):
    # Decision: the daemon is left running (cron does the same); reading stops soon after exit.
    result = run("sleep 1000 & echo $!")
    leftover_pids.extend(pids_in(result.output_tail))
    assert (result.outcome, result.exit_code) == ("success", 0)
    assert len(leftover_pids) == 1 and alive(leftover_pids[0])
    assert result.duration < _DRAIN_MAX
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert (
        "still held open" in warning.getMessage() and str(leftover_pids[0]) in warning.getMessage()
    )


def test_a_daemon_that_leaves_the_group_and_the_pipe_costs_no_drain(leftover_pids, caplog):
    result = run("setsid sleep 1000 >/dev/null 2>&1 & echo $!")
    leftover_pids.extend(pids_in(result.output_tail))
    assert result.ok and alive(leftover_pids[0])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_runner_survives_a_stream_of_bad_commands(tmp_path, not_executable):
    bad: list[str | tuple[str, ...]] = [("nosuch",), (str(not_executable),), "exit 1", "true"]
    outcomes = [run(command).outcome for command in bad]
    assert outcomes == ["not_started", "not_started", "failed", "success"]


# -- output ------------------------------------------------------------------------------------


def test_output_tail_is_bounded_and_marked():
    result = run("yes 0123456789 | head -c 5000000; echo; echo LAST-LINE", output_limit=1000)
    marker, _, tail = result.output_tail.partition("\n")
    assert re.fullmatch(r"\[\.\.\. 5\.0 MB truncated \.\.\.\]", marker)
    assert len(tail) == 1000 and tail.endswith("\n0123456789\n01234\nLAST-LINE\n")


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(65536, "hello\n"), (6, "hello\n"), (3, "[... 3 bytes truncated ...]\nlo\n"), (0, "")],
    ids=["room-to-spare", "exact-fit", "cut", "zero"],
)
def test_output_tail_limits(limit, expected):
    assert run("echo hello", output_limit=limit).output_tail == expected


def test_stdout_and_stderr_share_the_tail_in_order():
    assert run("echo out; echo err >&2; echo out2").output_tail == "out\nerr\nout2\n"


def test_tail_decoding_never_fails_and_never_starts_mid_character():
    capture = OutputCapture(limit=5, logger=None, prefix="")
    capture.feed("ééé".encode() + b"\xff!")  # the cut falls inside the second é
    assert capture.tail_text() == "[... 4 bytes truncated ...]\né\ufffd!"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1234, "1.2 KB"),
        (5_000_000, "5.0 MB"),
        (999_960, "1.0 MB"),
        (3 * 10**12, "3.0 TB"),
    ],
    ids=["zero", "bytes", "kb", "mb", "rounds-up-a-unit", "tb"],
)
def test_human_size(size, text):
    assert human_size(size) == text


def test_log_mode_sends_lines_to_the_job_logger_with_a_prefix(caplog):
    caplog.set_level(logging.INFO, logger="schedctl.job.backup")
    run_command(CommandSpec("echo hello; echo oops >&2; printf 'no newline'"), job_id="backup")
    lines = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.name.startswith("schedctl.job")
    ]
    assert lines == [
        ("schedctl.job.backup", logging.INFO, "[backup] hello"),
        ("schedctl.job.backup", logging.INFO, "[backup] oops"),
        ("schedctl.job.backup", logging.INFO, "[backup] no newline"),
    ]


def test_a_very_long_line_is_split_into_bounded_records(caplog):
    caplog.set_level(logging.INFO, logger="schedctl.job.long")
    size = 2 * MAX_LINE + 100
    run_command(CommandSpec(f"head -c {size} /dev/zero | tr '\\0' a; echo"), job_id="long")
    pieces = [
        r.getMessage().removeprefix("[long] ")
        for r in caplog.records
        if r.name == "schedctl.job.long"
    ]
    assert [len(p) for p in pieces] == [MAX_LINE, MAX_LINE, 100]


def test_env_values_never_reach_the_logs(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    secret_file = tmp_path / "secrets.env"
    secret_file.write_text("DB_PASSWORD=hunter2-from-file\n")
    spec = {
        "command": "echo working; exit 3",
        "env": {"API_TOKEN": "hunter2-secret"},
        "env_file": str(secret_file),
    }
    with pytest.raises(CommandFailedError) as info:
        execute_command("deploy", spec)
    assert "API_TOKEN" in caplog.text  # names are fine, and useful
    assert "hunter2" not in caplog.text + str(info.value) + json.dumps(info.value.result.to_dict())
    assert "[deploy] working" in caplog.text


@pytest.mark.parametrize("mode", ["inherit", "discard"])
def test_inherit_and_discard_capture_nothing(capfd, mode):
    result = run("echo to-the-parent; echo err-to-the-parent >&2", output=mode)
    assert (result.outcome, result.output_tail) == ("success", "")
    captured = capfd.readouterr()
    passed_through = (captured.out, captured.err) == ("to-the-parent\n", "err-to-the-parent\n")
    assert passed_through is (mode == "inherit")


def vm_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def test_a_huge_output_keeps_memory_flat():
    logger = logging.getLogger("test.commands.huge")  # logging enabled, so lines are split too
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    before = vm_rss_kib()
    result = run_command(
        CommandSpec("head -c 200000000 /dev/zero; echo; echo END"), job_id="huge", logger=logger
    )
    growth_mib = (vm_rss_kib() - before) / 1024
    assert result.ok and result.output_tail.endswith("\nEND\n")
    assert result.output_tail.startswith("[... 199.9 MB truncated ...]\n")
    assert len(result.output_tail.encode()) <= 65536 * 3 + 64  # U+FFFD is 3 bytes; still bounded
    assert growth_mib < 50


# -- describe, errors, the job function, (de)serialisation ------------------------------------


def result_of(outcome: str, **values) -> CommandResult:
    defaults = {
        "exit_code": None,
        "signal": None,
        "started_at": START,
        "finished_at": START,
        "duration": 1.25,
    }
    return CommandResult(outcome=outcome, **{**defaults, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (result_of("success", exit_code=0), "exit 0 in 1.2s"),
        (result_of("failed", exit_code=2, duration=0.0123), "exit 2 in 12ms"),
        (result_of("killed", signal=9), "killed by SIGKILL after 1.2s"),
        (result_of("timeout", signal=15, timeout=5.0, duration=5.2), "timed out after 5s"),
        (result_of("interrupted", signal=15, duration=125), "interrupted after 2m05s"),
        (result_of("not_started", started_at=None, duration=0), "not started"),
        (result_of("killed", signal=200), "killed by signal 200 after 1.2s"),
    ],
    ids=["success", "failed", "killed", "timeout", "interrupted", "not-started", "odd-signal"],
)
def test_describe(result, text):
    assert result.describe() == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (0.9996, "1s"), (5.0, "5s"), (12.34, "12.3s"), (59.97, "1m00s"),
     (60.0, "1m00s"), (125, "2m05s"), (3599.9, "59m59s"), (3600, "1h00m")],
    ids=["ms", "ms-rounding-to-1s", "whole", "tenths", "rounding-to-a-minute", "minute",
         "minutes", "under-an-hour", "hour"],
)
def test_format_seconds_shows_a_length_in_one_unit_only(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("state", "fields", "line"),
    [
        ("success", {"exit_code": 0, "duration": 1.25}, "success exit 0 in 1.2s"),
        ("failed", {"exit_code": 127, "duration": 0.001,
                    "error": "command not found (reported by /bin/sh)"},
         "failed exit 127 in 1ms - command not found (reported by /bin/sh)"),
        ("interrupted", {"signal": 15, "duration": 3.0,
                         "error": "interrupted by the scheduler after 3s; sent SIGTERM"},
         "interrupted by the scheduler after 3s; sent SIGTERM"),
        ("timeout", {"signal": 15, "duration": 5.0,
                     "error": "timed out after 5s; sent SIGTERM"},
         "timeout after 5s; sent SIGTERM"),
        ("killed", {"signal": 9, "error": "killed by SIGKILL after 1.2s"},
         "killed by SIGKILL after 1.2s"),
        ("missed", {"error": "missed 2 run(s), the first scheduled for 2026-03-02 12:00:00"},
         "missed 2 run(s), the first scheduled for 2026-03-02 12:00:00"),
        ("interrupted", {"error": "the scheduler stopped while the job was running"},
         "interrupted - the scheduler stopped while the job was running"),
    ],
    ids=["success", "exit-127", "interrupted", "timeout", "killed", "missed", "plain-error"],
)
def test_summaries_say_no_word_twice(state, fields, line):
    assert summarize(state, **fields) == line
    words = line.replace(";", " ").replace(",", " ").split()
    assert not [a for a, b in itertools.pairwise(words) if a == b], line


def test_a_shell_that_cannot_find_the_command_is_summarized_once():
    result = run("nosuchcmd-xyz")
    line = summarize(result.outcome, exit_code=result.exit_code, duration=result.duration,
                     error=result.error)
    assert line == (f"failed exit 127 in {format_seconds(result.duration)} - "
                    "command not found (reported by /bin/sh)")


def test_execute_command_returns_the_result_on_success_and_leaves_the_spec_alone():
    spec = {"command": ["sh", "-c", "echo ok"], "env": {"A": "1"}}
    original = copy.deepcopy(spec)
    result = execute_command("job", spec)
    assert (result.outcome, result.output_tail) == ("success", "ok\n")
    assert spec == original


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"command": "exit 3"}, "job 'job': exit 3 in "),
        ({"command": ["nosuchcmd-xyz"]}, "job 'job': command not found: 'nosuchcmd-xyz'"),
        ({"command": "sleep 10", "timeout": 0.1}, "job 'job': timed out after 100ms; sent SIGTERM"),
    ],
    ids=["exit-code", "not-started", "timeout"],
)
def test_execute_command_raises_with_the_result(spec, message):
    with pytest.raises(CommandFailedError) as info:
        execute_command("job", spec)
    assert str(info.value).startswith(message)
    assert info.value.result.outcome != "success" and info.value.job_id == "job"


def test_the_engine_reports_a_failed_command_as_a_job_error(debug_scheduler, fake_clock, event_log):
    debug_scheduler.start()
    for job_id, command in [("good", "true"), ("bad", "exit 5")]:
        debug_scheduler.add_job(
            "schedctl.commands.runner:execute_command",
            id=job_id,
            kwargs={"job_id": job_id, "spec": {"command": command}},
        )
    debug_scheduler.tick(fake_clock.now())
    (executed,) = event_log.of(EVENT_JOB_EXECUTED)
    (error,) = event_log.of(EVENT_JOB_ERROR)
    assert (executed.job_id, executed.retval.exit_code) == ("good", 0)
    assert (error.job_id, error.exception.result.exit_code) == ("bad", 5)


@pytest.mark.parametrize(
    "spec",
    [
        CommandSpec("echo hi"),
        CommandSpec(
            ("ls", "-l"),
            env={"A": "1"},
            cwd="/tmp",
            timeout=2.5,
            kill_grace=1,
            output="discard",
            output_limit=10,
            shell="/bin/bash",
            env_file="/x.env",
        ),
    ],
    ids=["defaults", "everything"],
)
def test_spec_round_trips_through_json(spec):
    data = json.loads(json.dumps(spec.to_dict()))
    assert CommandSpec.from_dict(data) == spec


def test_spec_dict_holds_only_what_differs_from_the_defaults():
    assert CommandSpec("true", timeout=5).to_dict() == {"command": "true", "timeout": 5}


def test_spec_keeps_its_own_copy_of_env():
    env = {"A": "1"}
    spec = CommandSpec("true", env=env)
    env["A"] = "changed"
    assert spec.env == {"A": "1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"comand": "x"}, "command: required; comand: unknown setting (did you mean 'command'?)"),
        ({"command": "x", "timout": 3}, "timout: unknown setting (did you mean 'timeout'?)"),
        ({"command": ""}, "command: must not be empty"),
        ({"command": []}, "command: must be a string or a non-empty list of strings"),
        ({"command": "x", "timeout": 0}, "timeout: must be a positive number of seconds, got 0"),
        (
            {"command": "x", "timeout": "5m"},
            "timeout: must be a positive number of seconds, got '5m'",
        ),
        ({"command": "x", "kill_grace": -1}, "kill_grace: must be zero or more seconds, got -1"),
        (
            {"command": "x", "output": "file"},
            "output: must be one of log, inherit, discard; got 'file'",
        ),
        (
            {"command": "x", "output_limit": 1.5},
            "output_limit: must be a number of bytes >= 0, got 1.5",
        ),
        (
            {"command": "x", "env": {"BAD-NAME": "v"}},
            "env: 'BAD-NAME' is not a valid variable name",
        ),
        ({"command": "x", "env": {"A": 1}}, "env: the value of A must be a string without NUL"),
    ],
    ids=[
        "missing-command",
        "typo",
        "empty",
        "empty-argv",
        "zero-timeout",
        "text-timeout",
        "negative-grace",
        "bad-output",
        "float-limit",
        "bad-env-name",
        "env-not-string",
    ],
)
def test_spec_validation(data, message):
    with pytest.raises(CommandSpecError) as info:
        CommandSpec.from_dict(data)
    assert message in str(info.value)


def test_validation_reports_every_problem_at_once():
    with pytest.raises(CommandSpecError) as info:
        CommandSpec.from_dict({"command": "x", "timeout": -1, "kill_grace": -1})
    assert str(info.value).count(";") == 1


def test_result_round_trips_through_json():
    result = run("echo hi; exit 2")
    data = json.loads(json.dumps(result.to_dict()))
    assert CommandResult.from_dict(data) == result


def test_terminate_all_uses_each_commands_own_kill_grace(tmp_path) -> None:
    """At shutdown each command gets its own kill_grace before SIGKILL."""
    import threading

    from schedctl.commands.processes import ProcessRegistry
    from schedctl.commands.running import RunningCommand
    from schedctl.commands.spec import CommandSpec

    registry = ProcessRegistry()
    ready = tmp_path / "ready"
    script = f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done"
    command = RunningCommand.start(CommandSpec(command=script, kill_grace=0.3), job_id="stubborn")
    registry.add(command)
    waiter = threading.Thread(target=command.wait)
    waiter.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # the trap must be set before SIGTERM can be ignored
        registry.terminate_all(wait=False)
        # Its own 0.3 s grace, not the 10 s default: SIGKILL has ended it well before 5 s.
        waiter.join(5)
        assert command.result is not None and command.result.signal == 9
    finally:
        command.kill()
