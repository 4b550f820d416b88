"""Leased runs under the shim, with real processes and real signals: no mocks, no sleeps.

A leased command must die before its lease can expire in the database: when the
deadline passes, when the node stops renewing, when the node itself dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schedctl.commands.leaselink import ShimChannel
from schedctl.commands.runner import run_command
from schedctl.commands.running import RunningCommand
from schedctl.commands.spawn import live_group_members
from schedctl.commands.spec import CommandSpec

SHIM = Path(__file__).resolve().parent.parent / "schedctl" / "commands" / "shim.py"
FAR = 3600.0


class FixedLease:
    """A lease nobody renews: the shim's first deadline is the only one."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.send: Callable[[float], None] | None = None
        self.unbound = False

    def first_deadline(self) -> float:
        return self.deadline

    def bind(self, send: Callable[[float], None]) -> None:
        self.send = send

    def unbind(self) -> None:
        self.unbound = True
        self.send = None


class RenewingLease(FixedLease):
    """A lease keeper in miniature: pushes the deadline ``extend`` ahead every ``every`` s."""

    def __init__(self, *, first: float, every: float, extend: float) -> None:
        super().__init__(first)
        self.every, self.extend, self.renewals = every, extend, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def bind(self, send: Callable[[float], None]) -> None:
        super().bind(send)
        self._thread.start()

    def unbind(self) -> None:
        self._stop.set()
        self._thread.join()
        super().unbind()

    def _renew(self) -> None:
        while not self._stop.wait(self.every):  # the renewal period, not a wait for logic
            assert self.send is not None
            self.send(time.monotonic() + self.extend)
            self.renewals += 1


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups a test starts; SIGKILLed afterwards, whatever happened."""
    pgids: list[int] = []
    yield pgids
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


#: How long a real process may take to start or die here before a test gives up. An upper
#: bound, not a timing: a loaded machine can take seconds, and passing tests never wait it out.
BOUND = 30.0


def wait_until(condition: Callable[[], bool], within: float = BOUND) -> bool:
    """Look again until ``condition`` holds, for real processes to start or die (bounded)."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.01)
    return True


# -- relaying the command's end ----------------------------------------------------------


def test_exit_code_is_relayed():
    lease = FixedLease(FAR)
    result = run_command(CommandSpec("exit 7"), job_id="t", lease=lease)
    assert (result.outcome, result.exit_code, result.signal) == ("failed", 7, None)
    assert lease.unbound


def test_success_is_relayed():
    assert run_command(CommandSpec(("true",)), job_id="t", lease=FixedLease(FAR)).ok


def test_signal_is_relayed():
    result = run_command(CommandSpec("kill -TERM $$"), job_id="t", lease=FixedLease(FAR))
    assert (result.outcome, result.exit_code, result.signal) == ("killed", None, signal.SIGTERM)


def test_output_passes_through():
    spec = CommandSpec("echo to-stdout; echo to-stderr >&2")
    result = run_command(spec, job_id="t", lease=FixedLease(FAR))
    assert result.output_tail == "to-stdout\nto-stderr\n"


def test_the_command_reads_dev_null_not_the_lease_pipe():
    result = run_command(CommandSpec("cat; readlink /proc/self/fd/0"), job_id="t", lease=FixedLease(FAR))
    assert result.ok and result.output_tail == "/dev/null\n"


def test_the_command_reads_its_stdin_text_not_the_lease_pipe():
    spec = CommandSpec("cat; echo; env | grep -c _SCHEDCTL_SHIM_; true", stdin="one\n%two")
    result = run_command(spec, job_id="t", lease=FixedLease(FAR))
    assert result.ok, result.output_tail
    assert result.output_tail == "one\n%two\n0\n"  # and the shim's variable stays its own


@pytest.mark.parametrize(
    "env", [{}, {"LC_CTYPE": "POSIX"}, {"LANG": "C"}], ids=["inherited", "lc-ctype-posix", "lang-c"]
)
def test_the_command_gets_the_environment_it_gets_without_a_shim(env):
    """Not even the C.UTF-8 that Python's locale coercion puts into the shim's own LC_CTYPE."""
    spec = CommandSpec("env | LC_ALL=C sort", env=env)
    plain = run_command(spec, job_id="t")
    shimmed = run_command(spec, job_id="t", lease=FixedLease(FAR))
    assert shimmed.ok and shimmed.output_tail == plain.output_tail


def test_a_command_that_cannot_start_fails_like_in_a_shell():
    """Under a lease the exec happens in the shim: exit 127 and a line, not ``not_started``."""
    result = run_command(CommandSpec(("no-such-command-xyz",)), job_id="t", lease=FixedLease(FAR))
    assert (result.outcome, result.exit_code) == ("failed", 127)
    assert "schedctl: cannot start 'no-such-command-xyz': No such file" in result.output_tail


# -- the lease ------------------------------------------------------------------------------


def test_a_passed_deadline_kills_the_command():
    result = run_command(CommandSpec(("sleep", "30")), job_id="t", lease=FixedLease(0.5))
    assert (result.outcome, result.signal) == ("killed", signal.SIGKILL)
    assert 0.4 <= result.duration < BOUND  # at the deadline, not before it, nor at the end
    assert "schedctl: lease lost (the node could not renew it in time)" in result.output_tail


def test_renewals_keep_the_command_alive():
    # The command outlives its first deadline by a second, so only renewals keep it alive;
    # each reaches 2 s ahead, so a renewal thread held up on a busy machine does not kill it.
    lease = RenewingLease(first=1.0, every=0.2, extend=2.0)
    result = run_command(CommandSpec(("sleep", "2")), job_id="t", lease=lease)
    assert result.ok, result.output_tail
    assert lease.renewals >= 3 and lease.unbound


def test_a_deadline_in_the_past_sent_later_kills_at_once(tmp_path):
    """How a keeper that learns the lease is lost (fenced) ends the command: ``send(0.0)``."""
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    lease = FixedLease(FAR)
    command = RunningCommand.start(
        CommandSpec(f"echo ready > {fifo}; exec sleep 30"), job_id="t", lease=lease
    )
    fifo.read_text()
    assert lease.send is not None
    lease.send(0.0)
    result = command.wait(timeout=10)
    assert (result.outcome, result.signal) == ("killed", signal.SIGKILL)
    assert "schedctl: lease lost" in result.output_tail


def test_a_deadline_already_passed_never_starts_the_command(tmp_path):
    marker = tmp_path / "ran"
    result = run_command(CommandSpec(f"touch {marker}"), job_id="t", lease=FixedLease(-1))
    assert (result.outcome, result.signal) == ("killed", signal.SIGKILL)
    assert not marker.exists()


def start_shim(deadline: float, *argv: str, groups: list[int]) -> tuple[subprocess.Popen, int]:
    """The shim alone, as the runner starts it; returns it and the write end of its stdin."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SHIM), f"{deadline:.6f}", "--", *argv],
        stdin=read_fd, stderr=subprocess.PIPE, start_new_session=True,
    )
    os.close(read_fd)
    groups.append(proc.pid)
    return proc, write_fd


def test_closing_the_channel_kills_the_group_at_once(groups):
    proc, write_fd = start_shim(time.monotonic() + FAR, "sleep", "30", groups=groups)
    channel = ShimChannel(write_fd)
    assert wait_until(lambda: len(live_group_members(proc.pid)) == 2)  # shim and sleep
    channel.close()  # what the node's death does to the pipe
    assert proc.wait(timeout=BOUND) == -signal.SIGKILL
    assert wait_until(lambda: live_group_members(proc.pid) == [])
    assert b"schedctl: the scheduler went away; killing the command" in proc.stderr.read()


@pytest.mark.parametrize(
    "writes, returncode",
    [
        (["junk\n", "\n", "inf\n", "nan\n", "-\n"], -signal.SIGKILL),
        (["junk\n", "{far:.6f}", "\n"], 0),
    ],
    ids=["malformed-lines-keep-the-deadline", "a-line-split-across-writes-counts"],
)
def test_lines_from_the_node(groups, writes, returncode):
    # The first deadline leaves a busy machine time to start the shim and read the lines.
    proc, write_fd = start_shim(time.monotonic() + 1.5, "sleep", "2", groups=groups)
    far = time.monotonic() + FAR
    for chunk in writes:
        os.write(write_fd, chunk.format(far=far).encode())
    assert proc.wait(timeout=BOUND) == returncode
    os.close(write_fd)


def test_send_after_the_shim_is_gone_is_harmless(groups):
    proc, write_fd = start_shim(time.monotonic() + FAR, "true", groups=groups)
    channel = ShimChannel(write_fd)
    assert proc.wait(timeout=BOUND) == 0
    channel.send(time.monotonic() + FAR)  # EPIPE, swallowed
    channel.close()
    channel.close()
    channel.send(time.monotonic() + FAR)  # after close: nothing at all


# -- the runner's own stops still work through the shim ------------------------------------


@pytest.mark.parametrize(
    "command, signals",
    [("exec sleep 30", "sent SIGTERM"), ("trap '' TERM; sleep 30", "then SIGKILL after 300ms")],
    ids=["sigterm", "sigkill-after-grace"],
)
def test_the_spec_timeout_works_through_the_shim(command, signals):
    lease = FixedLease(FAR)
    result = run_command(CommandSpec(command, timeout=0.3, kill_grace=0.3), job_id="t", lease=lease)
    assert result.outcome == "timeout" and signals in (result.error or "")
    assert live_group_members(result.pid) == []
    assert lease.unbound


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_terminate_and_kill_work_through_the_shim(tmp_path, stop):
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    lease = FixedLease(FAR)
    command = RunningCommand.start(
        CommandSpec(f"echo ready > {fifo}; exec sleep 30"), job_id="t", lease=lease
    )
    fifo.read_text()  # the command runs, under the shim
    if stop == "terminate":
        command.terminate(grace=5)
    else:
        command.kill()
    result = command.wait(timeout=10)
    assert result.outcome == "interrupted"
    assert live_group_members(command.pgid) == [] and lease.unbound


# -- the node dies or freezes -------------------------------------------------------------

NODE = textwrap.dedent(
    """
    import sys, threading, time
    from schedctl.commands.running import RunningCommand
    from schedctl.commands.spec import CommandSpec

    class NodeLease:
        # "far": one deadline an hour away; "renewing": 0.6 s, renewed every 0.1 s.
        def __init__(self, renew):
            self.renew, self.first = renew, time.monotonic() + (0.6 if renew else 3600)
        def first_deadline(self): return self.first
        def bind(self, send):
            if self.renew:
                threading.Thread(target=self.keep, args=(send,), daemon=True).start()
        def keep(self, send):
            while True:
                time.sleep(0.1)
                send(time.monotonic() + 0.6)
                print("renewed", flush=True)
        def unbind(self): pass

    lease = NodeLease(sys.argv[1] == "renewing")
    command = RunningCommand.start(CommandSpec(("sleep", "30")), job_id="t", lease=lease)
    print(command.pid, flush=True)
    command.wait()
    """
)


@pytest.fixture
def node(tmp_path) -> Iterator[Callable[[str], subprocess.Popen]]:
    """Starts a separate schedctl process running a leased ``sleep 30``; killed afterwards."""
    script = tmp_path / "node.py"
    script.write_text(NODE)
    started: list[subprocess.Popen] = []

    def start(lease: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(script), lease], stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_kill_9_of_the_node_kills_the_command(node, groups):
    proc = node("far")
    shim_pid = int(proc.stdout.readline())
    groups.append(shim_pid)
    assert wait_until(lambda: len(live_group_members(shim_pid)) == 2)
    proc.kill()  # SIGKILL: no handler, no cleanup, only the kernel closing the node's fds
    proc.wait()
    assert wait_until(lambda: live_group_members(shim_pid) == [])


def test_a_frozen_node_cannot_renew_and_the_command_dies(node, groups):
    proc = node("renewing")
    shim_pid = int(proc.stdout.readline())
    groups.append(shim_pid)
    for _ in range(10):  # a second of renewals: well past the first deadline
        assert proc.stdout.readline() == "renewed\n"
    assert len(live_group_members(shim_pid)) == 2
    proc.send_signal(signal.SIGSTOP)  # frozen: its fds stay open, so no end-of-file either
    assert wait_until(lambda: live_group_members(shim_pid) == [])
