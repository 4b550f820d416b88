"""End to end: ``schedctl run`` runs commands the way a production cron should.

Retries, timeouts that leave nothing behind, overlap, catch-up after downtime,
``@reboot``, output handling, secrets, alerts and shells, each seen from outside
through ``schedctl history --json`` and ``schedctl list --json``, with the real
executable, real processes and real signals. Commands leave evidence in files
under ``tmp_path``; the tests poll for it with ``wait_until``, never sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.conftest import SCHEDCTL
from tests.cli.helpers import Daemon, as_json, read_runs, wait_until


def history(schedctl, state: Path, job_id: str) -> list[dict]:
    """``schedctl history JOB --json``, oldest first (the CLI shows newest first)."""
    return as_json(schedctl("history", "--state", state, job_id, "-n", "100", "--json"))[::-1]


def listed(schedctl, state: Path) -> dict[str, dict]:
    return {job["id"]: job for job in as_json(schedctl("list", "--state", state, "--json"))}


def finished(state: Path, job_id: str, outcome: str | None = None) -> list:
    """History rows of ``job_id`` that have ended (with ``outcome``, if given)."""
    return [r for r in read_runs(state, job_id)
            if r.state != "running" and (outcome is None or r.state == outcome)]


def run_now(schedctl, state: Path, job_id: str) -> None:
    result = schedctl("run-now", "--state", state, job_id)
    assert result.returncode == 0, result.stderr


# -- retries -----------------------------------------------------------------------------------


def test_a_failing_command_is_retried_until_it_succeeds(tmp_path, schedctl, jobfile, scheduler,
                                                        state):
    counter, seen = tmp_path / "count", tmp_path / "seen"
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          flaky:
            command: >-
              n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter};
              echo "$SCHEDCTL_ATTEMPT $SCHEDCTL_SCHEDULED_FOR $(date +%s.%N)" >> {seen};
              echo "attempt $n"; test $n -ge 3
            interval: 1h
            retries: 3
            retry_delay: 0.1s
            backoff: 2
    """))
    run_now(schedctl, state, "flaky")

    wait_until(lambda: finished(state, "flaky", "success"), what="the third attempt to succeed",
               context=daemon.log)

    rows = history(schedctl, state, "flaky")
    assert [(r["attempt"], r["state"], r["exit_code"]) for r in rows] == [
        (1, "failed", 1), (2, "failed", 1), (3, "success", 0)]
    assert len({r["scheduled_for"] for r in rows}) == 1
    assert [r["output"] for r in rows] == ["attempt 1\n", "attempt 2\n", "attempt 3\n"]
    attempts, scheduled, started = zip(*(line.split() for line in seen.read_text().splitlines()))
    assert attempts == ("1", "2", "3") and set(scheduled) == {rows[0]["scheduled_for"]}
    # retry_delay 0.1s with backoff 2: the waits were 0.1 s, then 0.2 s
    gaps = [float(later) - float(earlier) for earlier, later in pairwise(started)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, gaps
    assert "attempt 2 in 100ms" in daemon.log() and "attempt 3 in 200ms" in daemon.log()
    assert listed(schedctl, state)["flaky"]["last_run"]["state"] == "success"


def test_sigterm_during_a_retry_wait_stops_at_once(tmp_path, schedctl, jobfile, scheduler, state):
    counter = tmp_path / "count"
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          doomed:
            command: echo x >> {counter}; exit 4
            interval: 1h
            retries: 5
            retry_delay: 1m
    """))
    run_now(schedctl, state, "doomed")
    daemon.wait_for_log("attempt 2 in 1m")

    signalled = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait_exit()

    assert code == 0
    assert time.monotonic() - signalled < 5, "shutdown waited for the retry delay"
    assert counter.read_text() == "x\n", "another attempt started after SIGTERM"
    rows = history(schedctl, state, "doomed")
    assert [(r["attempt"], r["state"], r["exit_code"]) for r in rows] == [(1, "failed", 4)]
    assert "Traceback" not in daemon.log()


def test_run_now_without_a_scheduler_records_every_attempt(tmp_path, schedctl, jobfile, state):
    counter, seen = tmp_path / "count", tmp_path / "seen"
    path = jobfile(f"""
        state: state.db
        jobs:
          flaky:
            command: >-
              n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter};
              echo "$SCHEDCTL_ATTEMPT $SCHEDCTL_SCHEDULED_FOR" >> {seen}; test $n -ge 2
            interval: 1h
            retries: 2
            retry_delay: 0.1s
    """)
    store = SQLiteJobStore(path=state)
    sync_jobs(load_jobfile(path), store, datetime.now(UTC))
    store.shutdown()
    result = schedctl("run-now", "-f", path, "flaky")  # no scheduler: runs in this process

    assert (result.returncode, result.stdout.strip()) == (0, "flaky: success exit 0"), result.stderr
    rows = history(schedctl, state, "flaky")
    assert [(r["attempt"], r["state"], r["reason"]) for r in rows] == [
        (1, "failed", "run-now"), (2, "success", "run-now")]
    scheduled_for = rows[0]["scheduled_for"]
    assert rows[1]["scheduled_for"] == scheduled_for
    assert seen.read_text().splitlines() == [f"1 {scheduled_for}", f"2 {scheduled_for}"]


# -- timeout and kill_grace --------------------------------------------------------------------


def group_of(pid: int) -> int | None:
    """The process group of a live process (None once it is gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    state, _ppid, pgrp = stat[stat.rfind(b")") + 2:].split()[:3]
    return None if state in (b"Z", b"X") else int(pgrp)


def group_members(pgid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and group_of(int(p.name)) == pgid]


@pytest.mark.parametrize(("prefix", "signals", "ended_by", "lasted"), [
    ("", "sent SIGTERM", signal.SIGTERM, 1.0),
    ("trap '' TERM; ", "sent SIGTERM, then SIGKILL after 500ms", signal.SIGKILL, 1.5),
], ids=["obeys-sigterm", "ignores-sigterm"])
def test_a_timeout_ends_the_whole_process_group(tmp_path, schedctl, jobfile, scheduler, state,
                                                 prefix, signals, ended_by, lasted):
    pids = tmp_path / "pids"
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          hang:
            command: >-
              {prefix}echo $$ >> {pids};
              sh -c 'echo $$ >> {pids}; sleep 1000 & echo $! >> {pids}; exec sleep 1000'
            interval: 1h
            timeout: 1s
            kill_grace: 0.5s
    """))
    run_now(schedctl, state, "hang")
    wait_until(lambda: len(pids.read_text().split()) == 3 if pids.exists() else False,
               what="the job and its grandchildren to start", context=daemon.log)
    shell, inner, background = map(int, pids.read_text().split())
    assert {group_of(pid) for pid in (shell, inner, background)} == {shell}

    [row] = wait_until(lambda: finished(state, "hang"), what="the timeout", context=daemon.log)

    assert (row.state, row.signal, row.exit_code) == ("timeout", ended_by, None)
    assert row.error == f"timed out after 1s; {signals}"
    assert row.duration >= lasted  # the timeout, plus kill_grace for a job that ignores SIGTERM
    assert group_members(shell) == [], "a process of the job's group survived the timeout"
    assert [r["state"] for r in history(schedctl, state, "hang")] == ["timeout"]


# -- overlap -----------------------------------------------------------------------------------


def marks(path: Path) -> list[tuple[str, int]]:
    """``start PID`` / ``end PID`` lines a job appended, in order."""
    if not path.exists():
        return []
    return [(word, int(pid)) for word, pid in (line.split() for line in path.read_text().splitlines())]


def assert_never_overlapped(events: list[tuple[str, int]]) -> None:
    running: set[int] = set()
    for word, pid in events:
        if word == "start":
            assert not running, f"run {pid} started while {running} still ran: {events}"
            running.add(pid)
        else:
            running.discard(pid)


def test_overlap_replace_stops_the_running_instance_for_the_new_one(tmp_path, schedctl, jobfile,
                                                                    scheduler, state):
    log, alerts = tmp_path / "marks", tmp_path / "alerts"
    daemon = scheduler(jobfile(f"""
        state: state.db
        defaults:
          on_failure:
            - command: echo "$SCHEDCTL_JOB_ID $SCHEDCTL_OUTCOME" >> {alerts}
        jobs:
          replace-me:
            command: >-
              echo "start $$" >> {log}; trap 'echo "end $$" >> {log}; exit 143' TERM;
              sleep 30 & wait
            interval: 0.5s
            overlap: replace
            kill_grace: 5s
          witness:
            command: exit 1
            interval: 1h
    """), "--shutdown-timeout", "0.1s")

    wait_until(lambda: len(finished(state, "replace-me", "replaced")) >= 2,
               what="two replacements", context=daemon.log)
    # Alerts go out in order: once the witness's has, a replaced run's would have too.
    assert schedctl("run-now", "--state", state, "witness").returncode == 0
    wait_until(lambda: alerts.exists() and "witness" in alerts.read_text(),
               what="the witness's failure alert", context=daemon.log)
    status = as_json(schedctl("status", "--state", state, "--json"))
    failed = as_json(schedctl("history", "--state", state, "replace-me", "--failed", "--json"))
    table = schedctl("history", "--state", state, "replace-me").stdout
    sent = alerts.read_text()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0

    assert sent == "witness failed\n"  # a replaced run is no failure
    assert status["replaced_24h"] >= 2 and status["failures_24h"] == 1, status
    assert failed == []
    assert "replaced by a newer run after" in table and "(overlap: replace)" in table
    events = marks(log)
    assert_never_overlapped(events)
    assert [word for word, _ in events].count("start") == [word for word, _ in events].count("end")
    rows = history(schedctl, state, "replace-me")
    assert len(rows) == sum(word == "start" for word, _ in events)
    # Each run was replaced by the next, but the last: SIGTERM stopped that one.
    assert [r["state"] for r in rows] == ["replaced"] * (len(rows) - 1) + ["interrupted"], rows
    assert all(r["signal"] is None and r["exit_code"] == 143 for r in rows)
    assert "stopping it to start this one" in daemon.log()
    replaced_lines = [line for line in daemon.log().splitlines() if "replace-me: replaced" in line]
    assert replaced_lines and not [line for line in replaced_lines if "ERROR" in line]


def test_overlap_skip_records_the_run_that_could_not_start(tmp_path, schedctl, jobfile, scheduler,
                                                           state):
    log, release = tmp_path / "marks", tmp_path / "release"
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          slow:
            command: >-
              echo "start $$" >> {log};
              while [ ! -e {release} ]; do sleep 0.02; done; echo "end $$" >> {log}
            interval: 0.3s
    """))

    [skipped, *_] = wait_until(lambda: finished(state, "slow", "skipped"),
                               what="a skipped run", context=daemon.log)
    release.touch()
    wait_until(lambda: len(finished(state, "slow", "success")) >= 2,
               what="runs to go on once the first ended", context=daemon.log)

    assert_never_overlapped(marks(log))
    rows = history(schedctl, state, "slow")
    first = rows[0]
    assert first["state"] == "success"
    assert skipped.error == "the previous run was still going (max_instances reached)"
    assert skipped.started_at is None and skipped.exit_code is None
    assert skipped.scheduled_for > datetime.fromisoformat(first["scheduled_for"])
    assert skipped.finished_at < datetime.fromisoformat(first["finished_at"])
    assert "slow: the previous run was still going" in daemon.log()


# -- catch-up after downtime -------------------------------------------------------------------


def test_catch_up_runs_once_at_start_up_for_runs_missed_while_down(schedctl, jobfile, scheduler,
                                                                   state):
    path = jobfile("""
        state: state.db
        jobs:
          nightly:
            command: echo caught up
            cron: "0 3 * * *"
            catch_up: true
          nightly-no-catch-up:
            command: echo never
            cron: "0 3 * * *"
          witness:
            command: echo witness
            interval: 0.2s
    """)
    first = scheduler(path)
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    store = SQLiteJobStore(path=state)
    for job_id in ("nightly", "nightly-no-catch-up"):
        job = store.lookup_job(job_id)
        job.next_run_time = due
        store.update_job(job)
    store.shutdown()
    witnessed = len(finished(state, "witness"))

    daemon = scheduler(path)
    wait_until(lambda: finished(state, "nightly", "success"), what="the catch-up run",
               context=daemon.log)
    # No second run: the witness goes on for several periods after the catch-up.
    wait_until(lambda: len(finished(state, "witness")) >= witnessed + 5, what="witness runs")

    caught = history(schedctl, state, "nightly")
    assert [r["state"] for r in caught] == ["missed", "success"]
    assert datetime.fromisoformat(caught[0]["scheduled_for"]) == due
    assert "caught up at start-up" in caught[0]["error"]
    assert caught[1]["output"] == "caught up\n"
    dropped = history(schedctl, state, "nightly-no-catch-up")
    assert [r["state"] for r in dropped] == ["missed"]
    assert datetime.fromisoformat(dropped[0]["scheduled_for"]) == due
    jobs = listed(schedctl, state)
    now = datetime.now(UTC)
    for job_id in ("nightly", "nightly-no-catch-up"):
        assert datetime.fromisoformat(jobs[job_id]["next_run_time"]) > now
    assert "nightly: runs were missed while schedctl was down; running it once now" in daemon.log()


# -- @reboot -----------------------------------------------------------------------------------


def test_reboot_jobs_run_once_per_boot_not_once_per_restart(tmp_path, schedctl, jobfile,
                                                           scheduler, state):
    boots = tmp_path / "boots"
    path = jobfile(f"""
        state: state.db
        jobs:
          at-boot:
            command: echo ran >> {boots}
            cron: "@reboot"
          witness:
            command: echo witness
            interval: 0.2s
    """)

    def restart():
        daemon = scheduler(path)
        witnessed = len(finished(state, "witness"))
        # Boot runs are requested before start-up ends; two witness runs later they have begun.
        wait_until(lambda: len(finished(state, "witness")) >= witnessed + 2, what="witness runs",
                   context=daemon.log)
        wait_until(lambda: not any(r.state == "running" for r in read_runs(state, "at-boot")),
                   what="the boot job to end", context=daemon.log)
        return daemon

    first = restart()
    assert boots.read_text() == "ran\n"
    view = listed(schedctl, state)["at-boot"]
    assert (view["state"], view["next_run_time"], view["trigger"]) == ("at boot", None, "@reboot")
    assert view["last_run"]["state"] == "success"
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0

    second = restart()
    assert boots.read_text() == "ran\n", "a restart in the same boot ran the @reboot job again"
    assert "first start since boot" not in second.log()
    second.signal(signal.SIGTERM)
    assert second.wait_exit() == 0

    with closing(sqlite3.connect(state)) as db, db:
        db.execute("UPDATE boot_runs SET boot_id = 'the-previous-boot'")
    restart()
    assert boots.read_text() == "ran\nran\n"
    assert [r["state"] for r in history(schedctl, state, "at-boot")] == ["success", "success"]


# -- output and secrets ------------------------------------------------------------------------


def test_output_is_kept_bounded_logged_discarded_or_inherited(schedctl, jobfile, scheduler, state):
    daemon = scheduler(jobfile("""
        state: state.db
        defaults:
          interval: 1h
        jobs:
          chatty:
            command: seq 1 5000
            output_limit: 100
          quiet:
            command: echo discarded-line
            output: discard
          passthrough:
            command: echo inherited-line
            output: inherit
    """))
    for job_id in ("chatty", "quiet", "passthrough"):
        run_now(schedctl, state, job_id)
    wait_until(lambda: all(finished(state, j) for j in ("chatty", "quiet", "passthrough")),
               what="three runs", context=daemon.log)

    [chatty] = history(schedctl, state, "chatty")
    marker, tail = chatty["output"].split("\n", 1)
    assert marker.startswith("[... ") and marker.endswith(" truncated ...]")
    assert tail.endswith("\n4999\n5000\n") and len(tail.encode()) <= 100
    assert "[chatty] 5000" in daemon.log() and "[chatty] 1\n" in daemon.log()
    [quiet] = history(schedctl, state, "quiet")
    assert (quiet["state"], quiet["output"]) == ("success", None)
    assert "discarded-line" not in daemon.log()
    [passthrough] = history(schedctl, state, "passthrough")
    assert (passthrough["state"], passthrough["output"]) == ("success", None)
    assert "inherited-line" in daemon.log()  # schedctl's own stdout and stderr share the file
    assert "[passthrough] inherited-line" not in daemon.log()


def test_env_values_reach_the_command_and_are_shown_nowhere(tmp_path, schedctl, jobfile, scheduler,
                                                            state):
    token, password = "tok-5up3r-s3cr3t-7731", "pw-fr0m-env-file-4412"
    env_file, seen = tmp_path / "secrets.env", tmp_path / "seen"
    env_file.write_text(f"# database\nexport DB_PASSWORD='{password}'\n")
    path = jobfile(f"""
        state: state.db
        jobs:
          secretive:
            description: uses secrets without printing them
            command: >-
              echo "$API_TOKEN $DB_PASSWORD" > {seen};
              echo "token of ${{#API_TOKEN}} chars"; exit 3
            interval: 1h
            env:
              API_TOKEN: {token}
            env_file: {env_file}
            on_failure:  # a failure, and its alert, log more lines that must not leak
              - command: cat > /dev/null
    """)
    daemon = scheduler(path)
    run_now(schedctl, state, "secretive")
    wait_until(lambda: finished(state, "secretive"), what="the run", context=daemon.log)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0

    assert seen.read_text() == f"{token} {password}\n"
    views = [
        schedctl("list", "--state", state), schedctl("list", "--state", state, "--json"),
        schedctl("history", "--state", state, "--output"),
        schedctl("history", "--state", state, "--json"),
        schedctl("status", "--state", state, "--json"), schedctl("validate", path),
        schedctl("next", "--state", state, "secretive"),
    ]
    shown = "\n".join(result.stdout + result.stderr for result in views) + daemon.log()
    assert "token of 21 chars" in shown and "API_TOKEN" in shown
    assert token not in shown and password not in shown


# -- PID 1 in a container ----------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture
def as_container_init(tmp_path: Path, cli_env: dict[str, str]):
    """Starts ``schedctl run JOBFILE`` as PID 1 of a new pid namespace (``unshare``); returns
    the Daemon (the unshare process) and schedctl's pid as seen from here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (util-linux) for a pid namespace")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a pid namespace here: {probe.stderr.decode().strip()}")
    started: list[Daemon] = []

    def start(jobfile: Path, *, ready: bool = True) -> tuple[Daemon, int]:
        log = tmp_path / "run-pid1.log"
        with log.open("wb") as out:
            # --kill-child: if the test kills unshare, the namespace (and every job in it) goes too.
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                 SCHEDCTL, "run", str(jobfile)],
                cwd=tmp_path, env=cli_env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )
        daemon = Daemon(proc, log)
        started.append(daemon)
        if not ready:
            return daemon, 0
        daemon.wait_ready()
        [init] = wait_until(lambda: children_of(proc.pid), what="schedctl inside the namespace")
        return daemon, init

    yield start
    for daemon in started:
        daemon.kill()


#: One line per run: how many sleeps were orphaned to PID 1, then each zombie in the
#: namespace as ``pid:starttime`` (the start time tells a reused pid from the same process).
CENSUS = r"""cat /proc/[0-9]*/stat 2>/dev/null | awk '
  { pid = $1; comm = $2; sub(/^.*\) /, "")
    if ($1 == "Z") zombies = zombies " " pid ":" $20
    if ($2 == 1 && comm == "(sleep)") o++ }
  END { print (o + 0) zombies }'"""

#: How many censuses in a row a zombie must survive to count as leaked. A census catches
#: any process between its exit and its reaping, more often on a loaded machine; a zombie
#: nobody reaps stays in every census after it.
LEAK_SPAN = 4


def lasting_zombies(censuses: list[tuple[int, set[str]]]) -> set[str]:
    """The zombies seen in LEAK_SPAN consecutive censuses."""
    return {zombie for start in range(len(censuses) - LEAK_SPAN + 1)
            for zombie in set.intersection(*(z for _, z in censuses[start:start + LEAK_SPAN]))}


def test_a_zombie_counts_as_leaked_only_when_it_lasts():
    caught = [(0, {"7:100"}), (1, set()), (0, {"9:120", "10:121"}), (0, {"10:121"})]
    leaked = [(0, {"7:100"}), (1, {"7:100", "8:101"}), (0, {"7:100"}), (0, {"7:100", "9:3"})]
    reused = [(0, {"7:100"}), (0, {"7:100"}), (0, {"7:250"}), (0, {"7:250"})]
    assert lasting_zombies(caught) == set()
    assert lasting_zombies(leaked) == {"7:100"}
    assert lasting_zombies(reused) == set()


def test_as_pid_1_orphans_are_reaped_and_sigterm_stops_cleanly(tmp_path, jobfile, state,
                                                              as_container_init):
    census = tmp_path / "census"
    daemon, init = as_container_init(jobfile(f"""
        state: state.db
        jobs:
          leaver:
            command: sh -c '(sleep 0.3 &) ; exit 0'
            interval: 0.2s
            output: discard
          census:
            command: {json.dumps(CENSUS + f" >> {census}")}
            interval: 0.2s
          failing:
            command: exit 3
            interval: 0.1s
    """))
    [nspid] = [line for line in Path(f"/proc/{init}/status").read_text().splitlines()
               if line.startswith("NSpid:")]
    assert nspid.split()[-1] == "1", f"schedctl is not PID 1 of its namespace: {nspid}"

    def readings() -> list[tuple[int, set[str]]]:
        text = census.read_text() if census.exists() else ""
        return [(int(orphans), set(zombies)) for orphans, *zombies in map(str.split,
                                                                          text.splitlines())]

    # Ten leavers orphan ten sleeps; each would stay a zombie of PID 1 if it were not reaped,
    # and so be in every census after the next few.
    wait_until(lambda: len(finished(state, "leaver", "success")) >= 10, 20,
               what="ten runs of leaver", context=daemon.log)
    ran = len(readings())
    wait_until(lambda: len(readings()) >= ran + 2 * LEAK_SPAN, 20, what="more censuses",
               context=daemon.log)

    seen = readings()
    assert any(orphans for orphans, _ in seen), f"no sleep was ever orphaned to PID 1: {seen}"
    assert lasting_zombies(seen) == set(), f"zombies are never reaped: {seen}"
    # Reaping orphans never steals the exit status of a job schedctl waits for.
    assert {r.state for r in finished(state, "failing")} == {"failed"}

    os.kill(init, signal.SIGHUP)  # signals sent to PID 1 reach the scheduler
    daemon.wait_for_log("Reloaded")
    signalled = time.monotonic()
    os.kill(init, signal.SIGTERM)  # what a container runtime sends to PID 1
    assert daemon.wait_exit(timeout=25) == 0
    # Well before the 30 s shutdown timeout, which a stop stuck on a job would wait out.
    assert time.monotonic() - signalled < 25
    assert "Received SIGTERM: stopping" in daemon.log() and "schedctl stopped" in daemon.log()
    assert "Traceback" not in daemon.log()
    assert not [r for r in read_runs(state) if r.state == "running"]


# -- alerts ------------------------------------------------------------------------------------


def test_failure_and_recovery_alerts_fire_end_to_end(tmp_path, schedctl, jobfile, scheduler, state):
    alerts = tmp_path / "alerts"
    jobs = """
        state: state.db
        defaults:
          on_failure:
            - command: >-
                {{ echo "failure $SCHEDCTL_JOB_ID $SCHEDCTL_OUTCOME $SCHEDCTL_EXIT_CODE";
                sed 's/^/stdin: /'; }} >> {alerts}
          on_recovery:
            - command: echo "recovery $SCHEDCTL_JOB_ID $SCHEDCTL_OUTCOME" >> {alerts}
        jobs:
          fragile:
            command: {command}
            interval: 1h
    """
    path = jobfile(jobs.format(alerts=alerts, command="'echo disk full; exit 3'"))
    daemon = scheduler(path)
    run_now(schedctl, state, "fragile")
    wait_until(lambda: alerts.exists() and "stdin" in alerts.read_text(), what="the failure alert",
               context=daemon.log)
    assert alerts.read_text() == "failure fragile failed 3\nstdin: disk full\n"

    jobfile(jobs.format(alerts=alerts, command="echo fixed"))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("Reloaded")
    for runs in (1, 2):  # the first success after a failure is a recovery; the second is not
        run_now(schedctl, state, "fragile")
        wait_until(lambda runs=runs: len(finished(state, "fragile", "success")) == runs,
                   what=f"success number {runs}", context=daemon.log)
    daemon.signal(signal.SIGTERM)  # a stop sends the alerts still queued, then exits
    assert daemon.wait_exit() == 0

    assert alerts.read_text().splitlines() == [
        "failure fragile failed 3", "stdin: disk full", "recovery fragile success"]
    assert [r["state"] for r in history(schedctl, state, "fragile")] == [
        "failed", "success", "success"]


# -- shells and env files ----------------------------------------------------------------------


def test_string_commands_use_the_configured_shell_and_env_file(tmp_path, schedctl, jobfile,
                                                               scheduler, state):
    env_file = tmp_path / "job.env"
    env_file.write_text('GREETING="hello from the env file"\nexport TARGET=world\n# NOT=this\n')
    daemon = scheduler(jobfile(f"""
        state: state.db
        defaults:
          interval: 1h
        jobs:
          in-bash:
            command: echo "bash=$BASH_VERSION" "array=${{#BASH_VERSINFO[@]}}"
            shell: /bin/bash
          in-sh:
            command: echo "bash=$BASH_VERSION"
          from-env-file:
            command: echo "$GREETING, $TARGET, ${{NOT:-unset}}, $OVERRIDE"
            env_file: {env_file}
            env:
              OVERRIDE: env wins over env_file
    """))
    for job_id in ("in-bash", "in-sh", "from-env-file"):
        run_now(schedctl, state, job_id)
    wait_until(lambda: all(finished(state, j) for j in ("in-bash", "in-sh", "from-env-file")),
               what="three runs", context=daemon.log)

    [bash] = history(schedctl, state, "in-bash")
    assert bash["state"] == "success"
    version, array = bash["output"].split()
    assert version.startswith("bash=") and version != "bash=" and array == "array=6"
    plain_sh = subprocess.run(["/bin/sh", "-c", 'echo "bash=$BASH_VERSION"'], capture_output=True,
                              text=True, check=True).stdout
    assert history(schedctl, state, "in-sh")[0]["output"] == plain_sh  # the default: /bin/sh
    assert history(schedctl, state, "from-env-file")[0]["output"] == (
        "hello from the env file, world, unset, env wins over env_file\n")


def test_an_env_file_that_cannot_be_read_is_a_run_that_did_not_start(tmp_path, schedctl, jobfile,
                                                                     scheduler, state):
    daemon = scheduler(jobfile(f"""
        state: state.db
        jobs:
          orphaned:
            command: echo never
            interval: 1h
            env_file: {tmp_path}/missing.env
    """))
    run_now(schedctl, state, "orphaned")

    [row] = wait_until(lambda: finished(state, "orphaned"), what="the run", context=daemon.log)
    assert (row.state, row.exit_code) == ("not_started", None)
    assert row.error == f"env_file not found: '{tmp_path}/missing.env'"


def test_as_pid_1_the_exit_code_of_schedctl_is_the_containers(jobfile, as_container_init):
    daemon, _ = as_container_init(jobfile("""
        jobs:
          broken: {command: echo, intervall: 1m}
    """), ready=False)

    assert daemon.wait_exit() == 2
    assert "did you mean 'interval'" in daemon.log()
