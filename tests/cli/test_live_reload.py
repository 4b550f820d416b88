"""Live reload, end to end: an edit of the jobfile is applied without a signal, an invalid
edit keeps the running jobs, and a storm of SIGHUPs makes one or two reloads while SIGTERM
stays prompt and the watchdog keeps being fed."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from tests.cli.helpers import read_runs, wait_until

TICKING = """
    state: state.db
    jobs:
      tick: {command: echo tick, interval: 0.2s}
"""


def test_an_edit_of_the_jobfile_is_picked_up_without_a_signal(jobfile, scheduler, state):
    path = jobfile(TICKING)
    daemon = scheduler(path)
    jobfile("""
        state: state.db
        jobs:
          tick: {command: echo tick, interval: 0.2s}
          fresh: {command: echo fresh, interval: 0.2s}
    """)
    # The watch looks every 0.5 s and acts on a change that held for one look.
    daemon.wait_for_log(f"Reloaded {path} (asked by a change to {path} (modified", timeout=2.5)
    wait_until(lambda: read_runs(state, "fresh"), what="the new job to run", context=daemon.log)
    assert "1 added, 1 unchanged" in daemon.log()


def test_an_invalid_edit_is_reported_once_and_the_running_jobs_are_kept(jobfile, scheduler,
                                                                       state):
    path = jobfile(TICKING)
    daemon = scheduler(path)
    jobfile("""
        state: state.db
        jobs:
          tick: {command: echo tick, interval: 0.2s}
          broken: {command: echo, intervall: 5m}
    """)
    daemon.wait_for_log("Reload failed (asked by a change to", timeout=2.5)
    assert "jobs.yaml:4:27: jobs.broken.intervall: unknown key 'intervall'" in daemon.log()
    ticks = len(read_runs(state, "tick"))
    wait_until(lambda: len(read_runs(state, "tick")) >= ticks + 3,
               what="tick to keep running", context=daemon.log)
    assert daemon.log().count("Reload failed") == 1  # the same broken file is not read again
    jobfile("""
        state: state.db
        jobs:
          tick: {command: echo tick, interval: 0.2s}
          fixed: {command: echo fixed, interval: 0.2s}
    """)
    daemon.wait_for_log("Reloaded", timeout=2.5)
    wait_until(lambda: read_runs(state, "fixed"), what="the fixed job to run", context=daemon.log)


def test_a_file_replaced_by_rename_is_picked_up(tmp_path: Path, jobfile, scheduler, state):
    path = jobfile(TICKING)
    daemon = scheduler(path)
    fresh = tmp_path / ".jobs.yaml.new"
    fresh.write_text("state: state.db\njobs:\n  other: {command: echo other, interval: 0.2s}\n")
    os.replace(fresh, path)
    daemon.wait_for_log("(replaced by a new file)): 1 added, 1 removed", timeout=2.5)
    wait_until(lambda: read_runs(state, "other"), what="the job of the new file to run")


def test_a_sighup_storm_makes_one_or_two_reloads_and_sigterm_stays_prompt(jobfile, scheduler):
    daemon = scheduler(jobfile(TICKING))
    for _ in range(200):
        os.kill(daemon.pid, signal.SIGHUP)
        # Spaced out, so that the kernel does not merge them into one pending signal:
        # this is the shape of the storm, not a wait for the scheduler.
        time.sleep(0.001)
    daemon.wait_for_log("coalesced)")  # the reload that served those that came meanwhile
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=15) == 0
    log = daemon.log()
    reloads = log.count("Reloaded ")
    assert 1 <= reloads <= 3, log  # one a SIGHUP, it was 200 reloads and SIGTERM waited for them
    assert "schedctl stopped" in log


def test_the_watchdog_is_fed_through_a_sighup_storm(tmp_path: Path, cli_env, jobfile, scheduler):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = tmp_path / "notify.sock"
    listener.bind(str(address))
    listener.settimeout(0.005)  # also paces the storm below: at most ~200 signals a second
    cli_env.update(NOTIFY_SOCKET=str(address), WATCHDOG_USEC="400000")  # a ping every 0.2 s
    daemon = scheduler(jobfile(TICKING))
    pings = 0
    deadline = time.monotonic() + 15
    while pings < 5:  # watchdog pings seen while SIGHUPs keep arriving
        assert time.monotonic() < deadline, f"only {pings} watchdog pings:\n{daemon.log()}"
        os.kill(daemon.pid, signal.SIGHUP)
        try:
            pings += listener.recv(4096).split(b"\n").count(b"WATCHDOG=1")
        except TimeoutError:
            pass
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=15) == 0
    listener.close()


def test_an_edit_of_a_crontab_run_as_it_is_is_picked_up(tmp_path: Path, scheduler):
    crontab = tmp_path / "crontab"
    crontab.write_text("SHELL=/bin/sh\n0 3 * * * echo nightly\n")
    daemon = scheduler(crontab)
    with crontab.open("a") as stream:
        stream.write("*/5 * * * * echo often\n")
    daemon.wait_for_log(f"Reloaded {crontab} (asked by a change to {crontab} (modified",
                        timeout=2.5)
    assert "1 added, 1 unchanged" in daemon.log()


def test_a_crontab_that_can_no_longer_be_read_fails_its_reload_and_still_stops(
    tmp_path: Path, scheduler,
):
    """``--crontab`` reads the file as a crontab only: a byte that is not UTF-8 is a refusal
    of the reload like any invalid jobfile, and the scheduler still answers SIGTERM."""
    crontab = tmp_path / "crontab"
    crontab.write_text("0 3 * * * echo nightly\n")
    daemon = scheduler(crontab, "--crontab")
    crontab.write_bytes(b"0 3 * * * echo \xff\n")
    daemon.wait_for_log("Reload failed (asked by a change to", timeout=5)
    assert "byte 0xff is not UTF-8" in daemon.log()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=15) == 0
    assert "Traceback" not in daemon.log()


#: A module whose attributes can be looked up once: the jobfile's check finds ``main``, the
#: job built from the jobfile next does not.
ODD_SECOND_LOOKUP = """\
_seen = []


def __getattr__(name):
    if _seen:
        raise GeneratorExit('odd module')
    _seen.append(name)
    return print
"""


def test_an_unexpected_error_in_a_reload_is_logged_once_and_sigterm_still_stops(
        jobfile, scheduler, state, tmp_path):
    """A ``call:`` module whose function is there when the jobfile is checked and raises
    what is not an Exception when the job is built gets past the jobfile's import check;
    the reload must log it, keep the jobs, and keep the control thread (which takes
    SIGTERM) alive."""
    path = jobfile(TICKING)
    daemon = scheduler(path)
    (tmp_path / "odd.py").write_text(ODD_SECOND_LOOKUP)
    jobfile(TICKING + "      odd: {call: 'odd:main', interval: 1h}\n")
    daemon.wait_for_log("Reload failed (asked by a change to", timeout=2.5)
    ticks = len(read_runs(state, "tick"))
    wait_until(lambda: len(read_runs(state, "tick")) >= ticks + 3,
               what="tick to keep running", context=daemon.log)
    log = daemon.log()
    assert log.count("Reload failed") == 1 and log.count("Traceback") == 1, log
    assert "GeneratorExit: odd module" in log
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0, daemon.log()
