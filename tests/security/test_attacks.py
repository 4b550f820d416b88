"""Each way a second local user once got a command run as root, tried again as that user.

Every test sets up what an administrator would, lets a real unprivileged user (made with
``useradd``) do what an attacker at a shell would, and then checks three things: the
attacker's command did not run (its marker file is absent), the message names the file,
and the legitimate jobs kept running.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schedctl.jobfile.loader import load_jobfile
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.state.sync import sync_jobs
from tests.cli.helpers import Daemon, read_runs, wait_until
from tests.security.conftest import fork_schedctl_as, make_dir, needs_root, write
from tests.test_alerts import smtp_server  # noqa: F401 (a fixture)

pytestmark = needs_root

TICK = "tick: {command: echo tick, interval: 0.2s}"


def ticks(state: Path) -> int:
    return sum(1 for run in read_runs(state, "tick") if run.state == "success")


def keeps_ticking(state: Path, runs: int = 3, log=None) -> None:
    """The legitimate job runs on: ``runs`` more successes from now (each 0.2 s apart)."""
    seen = ticks(state)
    wait_until(lambda: ticks(state) >= seen + runs, 10, what="tick to keep running",
               context=log)


def ticking_site(site: Path, scheduler) -> tuple[Path, Path, Path, Daemon]:
    """What an administrator sets up: ``etc/jobs.yaml`` (root's, 0755 directory) with only
    TICK, its state in a private ``var``; started and seen to tick once.
    Gives (etc, state, jobfile, daemon)."""
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o700)
    state = var / "state.db"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
    """)
    daemon = scheduler(jobfile)
    keeps_ticking(state, 1, daemon.log)
    return etc, state, jobfile, daemon


def stored_ids(state: Path) -> list[str]:
    store = SQLiteJobStore(path=state)
    try:
        return sorted(job.id for job in store.get_all_jobs())
    finally:
        store.shutdown()


# -- 1. a reload read a jobfile that another user had swapped in -------------------------------


def test_a_jobfile_swapped_in_by_another_user_is_refused_at_reload(users, site, scheduler):
    etc, state, jobfile, daemon = ticking_site(site, scheduler)
    marker = site / "pwned"

    etc.chmod(0o777)  # later, the directory is opened up for a deploy tool
    users.attacker.sh(f"""cat > new.yaml <<'EOF'
state: {state}
jobs:
  {TICK}
  evil: {{command: touch {marker}, interval: 0.2s}}
EOF
mv -f new.yaml jobs.yaml""", cwd=etc)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("Reload failed")

    assert f"{jobfile}: not trusted: group or others may write its directory {etc}" in daemon.log()
    keeps_ticking(state, log=daemon.log)
    assert not marker.exists()
    assert stored_ids(state) == ["tick"]


@pytest.mark.parametrize("layout", ["directory-open-to-all", "owned-by-attacker"])
def test_a_jobfile_another_user_can_change_is_refused_at_start(users, site, schedctl, layout):
    etc = make_dir(site / "etc", 0o777 if layout == "directory-open-to-all" else 0o755)
    owner = users.attacker.uid if layout == "owned-by-attacker" else 0
    marker = site / "pwned"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {site}/state.db
        jobs:
          evil: {{command: touch {marker}, interval: 0.2s}}
    """, owner=owner)

    result = schedctl("run", jobfile)

    assert result.returncode == 2
    assert result.stderr.startswith(f"schedctl: {jobfile}: not trusted: ")
    assert "fix: ch" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists() and not (site / "state.db").exists()


def test_a_jobfile_reached_through_a_link_to_another_users_directory_is_refused(
    users, site, schedctl,
):
    """/etc/schedctl -> /home/deploy/schedctl, say: root's link, root's file at the end,
    but the directory in between is the other user's, who may swap the file in it."""
    theirs = make_dir(site / "home", 0o755, owner=users.attacker.uid)
    real = make_dir(theirs / "schedctl", 0o755)
    marker = site / "pwned"
    write(real / "jobs.yaml", f"""
        state: {site}/state.db
        jobs:
          evil: {{command: touch {marker}, interval: 0.2s}}
    """)
    (site / "etc").symlink_to(real)
    jobfile = site / "etc" / "jobs.yaml"

    result = schedctl("run", jobfile)

    assert result.returncode == 2
    assert result.stderr.startswith(f"schedctl: {jobfile}: not trusted: its directory "
                                    f"{theirs} is owned by {users.attacker.name}")
    assert not marker.exists() and not (site / "state.db").exists()


# -- 2. a module planted beside the jobfile shadowed one of the standard library -------------


def test_a_module_planted_beside_the_jobfile_never_shadows_the_standard_library(
    users, site, scheduler, schedctl, smtp_server,  # noqa: F811
):
    mailbox, port = smtp_server
    jobs = make_dir(site / "jobs", 0o1777)  # sticky like /tmp: anyone may add a file
    state, marker = make_dir(site / "var", 0o700) / "state.db", site / "pwned"
    jobfile = write(jobs / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
          failing:
            command: exit 1
            cron: "0 0 1 1 *"
            on_failure:
              - email: {{host: 127.0.0.1, port: {port}, from: schedctl@example.com,
                        to: ops@example.com, timeout: 5s}}
    """)
    daemon = scheduler(jobfile)
    for name in ("smtplib", "ssl", "email"):  # each would run at the alert's import
        users.attacker.sh(f"printf 'open(\"{marker}\", \"w\").write(\"{name}\")\\n' > {name}.py",
                          cwd=jobs)

    assert schedctl("run-now", "--state", state, "failing").returncode == 0
    wait_until(lambda: mailbox.envelopes, 10, what="the failure alert", context=daemon.log)

    assert not marker.exists()
    keeps_ticking(state, log=daemon.log)


# -- 3. a state file another user could write ---------------------------------------------------


def _state_with_evil_job(jobfile: Path, state: Path, marker: Path) -> None:
    """A state file synced from ``jobfile``, plus a job that runs os.system."""
    sync_jobs(load_jobfile(jobfile), SQLiteJobStore(path=state), datetime.now(UTC))
    with sqlite3.connect(state) as conn:
        conn.execute(
            "INSERT INTO jobs SELECT 'evil', next_run_time, version, json_set(state, '$.id', "
            "'evil', '$.func', 'os:system', '$.args', json_array(?), '$.kwargs', json_object())"
            " FROM jobs WHERE id = 'tick'", (f"touch {marker}",))


def test_a_state_file_owned_by_another_user_is_refused(users, site, schedctl, scheduler):
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o755)
    state, marker = var / "state.db", site / "pwned"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
    """)
    _state_with_evil_job(jobfile, state, marker)
    os.chown(state, users.attacker.uid, users.attacker.gid)

    refused = schedctl("run", jobfile)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"schedctl: {state}: not trusted: it is owned by "
                                     f"{users.attacker.name}")
    assert not marker.exists()

    os.chown(state, 0, 0)  # the fix the message gives
    daemon = scheduler(jobfile)
    keeps_ticking(state, log=daemon.log)
    assert not marker.exists() and stored_ids(state) == ["tick"]


def test_a_definition_edited_into_the_state_file_never_runs(users, site, schedctl, scheduler):
    """Even with --insecure (an attacker may write the state file), the state file cannot
    run code: an edited command, a job the jobfile never declared, a func it never named,
    whether by the schedule or through run-now, with a scheduler running or without."""
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o1777)
    state = var / "state.db"
    markers = [site / f"pwned-{n}" for n in range(4)]
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
          victim: {{command: echo victim, cron: "0 0 1 1 *"}}
    """)
    sync_jobs(load_jobfile(jobfile), SQLiteJobStore(path=state), datetime.now(UTC))
    os.chown(state, users.attacker.uid, users.attacker.gid)
    daemon = scheduler(jobfile, "--insecure")
    assert "--insecure: files that other users can change are used anyway" in daemon.log()
    assert f"{state}: not trusted, used anyway (--insecure)" in daemon.log()
    keeps_ticking(state, 1, daemon.log)

    def edit(sql: str) -> None:
        users.attacker.sh(f'sqlite3 {state} "{sql}"')

    edit(f"UPDATE jobs SET state = json_set(state, '$.kwargs.spec.command', "
         f"'touch {markers[0]}') WHERE id = 'victim'")
    assert schedctl("run-now", "--state", state, "victim").returncode == 0
    daemon.wait_for_log("victim: not run: its definition in the state file differs from the "
                        "jobfile's in kwargs.spec.command")
    edit(f"UPDATE jobs SET state = json_set(state, '$.func', 'os:system', '$.args', "
         f"json_array('touch {markers[1]}'), '$.kwargs', json_object()) WHERE id = 'victim'")
    assert schedctl("run-now", "--state", state, "victim").returncode == 0
    daemon.wait_for_log("victim: not run: its definition in the state file differs from the "
                        "jobfile's in args, func, kwargs")
    edit(f"INSERT INTO jobs SELECT 'evil', next_run_time, version, json_set(state, '$.id', "
         f"'evil', '$.func', 'os:system', '$.args', json_array('touch {markers[2]}'), "
         f"'$.kwargs', json_object()) FROM jobs WHERE id = 'tick'")
    daemon.wait_for_log("evil: not run: the jobfile does not declare it")

    keeps_ticking(state, log=daemon.log)
    assert daemon.log().count("evil: not run") == 1  # logged once, though refused every 0.2 s
    assert len([run for run in read_runs(state, "evil") if run.state == "not_started"]) > 1
    refused = [run for run in read_runs(state, "victim") if run.state == "not_started"]
    assert len(refused) == 2 and all("not run:" in (run.error or "") for run in refused)
    daemon.signal(signal.SIGTERM)
    daemon.wait_exit()

    here = schedctl("run-now", "--insecure", "--state", state, "victim")  # no scheduler now
    assert here.returncode == 1
    assert "victim: not run: its definition in the state file differs" in here.stderr
    assert not any(marker.exists() for marker in markers)

    daemon = scheduler(jobfile, "--insecure")  # the sync at start writes the jobfile's back
    assert stored_ids(state) == ["tick", "victim"]
    assert schedctl("run-now", "--state", state, "victim").returncode == 0
    wait_until(lambda: any(run.state == "success" for run in read_runs(state, "victim")), 10,
               what="victim to run as the jobfile says", context=daemon.log)
    assert not any(marker.exists() for marker in markers)


# -- 4. an env_file another user owns -------------------------------------------------------------


def test_an_env_file_owned_by_another_user_is_refused_at_every_run(users, site, scheduler):
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o700)
    home = make_dir(site / "home", 0o755, owner=users.attacker.uid)
    bin_dir = make_dir(home / "bin", 0o755, owner=users.attacker.uid)
    env_file = write(home / "job.env", "GREETING=hello\n", owner=users.attacker.uid)
    state, marker = var / "state.db", site / "pwned"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
          clock: {{command: date, env_file: {env_file}, interval: 0.2s}}
    """)
    daemon = scheduler(jobfile)
    users.attacker.sh(f"printf '#!/bin/sh\\ntouch {marker}\\n' > {bin_dir}/date && "
                      f"chmod 755 {bin_dir}/date && "
                      f"echo 'PATH={bin_dir}:/usr/bin:/bin' > {env_file}")

    keeps_ticking(state, log=daemon.log)
    wait_until(lambda: len(read_runs(state, "clock")) >= 2, 10, what="two runs of clock")
    assert not marker.exists()
    runs = [run for run in read_runs(state, "clock") if run.state != "running"]
    assert runs and {run.state for run in runs} == {"not_started"}
    assert all(f"env_file {env_file}: not trusted: its directory {home} is owned by "
               f"{users.attacker.name}" in (run.error or "") for run in runs)


# -- 5. the lock file (and the state file's other companions) followed a symbolic link ------------


@pytest.mark.parametrize("name", ["state.db.lock", "state.db", "state.db-wal"])
@pytest.mark.parametrize("insecure", [False, True], ids=["secure", "insecure"])
def test_a_link_planted_where_schedctl_keeps_its_own_file_is_refused(
    users, site, schedctl, scheduler, name, insecure,
):
    etc, spool = make_dir(site / "etc", 0o755), make_dir(site / "spool", 0o1777)
    precious = write(etc / "precious", "keep me\n")
    state = spool / "state.db"
    jobfile = write(etc / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
    """)
    users.attacker.sh(f"ln -s {precious} {name}", cwd=spool)

    result = schedctl("run", *(["--insecure"] if insecure else []), jobfile)

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{spool / name}: is a symbolic link where schedctl keeps a file of its own" \
        in result.stderr
    assert precious.read_text() == "keep me\n"
    if insecure:
        return
    os.unlink(spool / name)
    daemon = scheduler(jobfile)
    keeps_ticking(state, log=daemon.log)
    assert precious.read_text() == "keep me\n"


# -- 6. a non-root service user's jobfile that its group may write ---------------------------------


def test_a_group_writable_jobfile_is_refused_for_a_non_root_runner(users, site, cli_env, tmp_path):
    runner, attacker = users.runner, users.attacker
    home = make_dir(site / "svc", 0o755, owner=runner.uid, group=runner.gid)
    state, marker = home / "state.db", home / "pwned"  # where the runner's commands may write
    jobfile = write(home / "jobs.yaml", f"""
        state: {state}
        jobs:
          {TICK}
    """, owner=runner.uid, group=users.shared_group)
    env = {**cli_env, "HOME": str(home), "XDG_STATE_HOME": str(home / "xdg")}
    daemon = fork_schedctl_as(runner, ["run", str(jobfile)], cwd=home, log=home / "run.log",
                              env=env).wait_ready()
    keeps_ticking(state, 1, daemon.log)

    jobfile.chmod(0o664)  # the deployment group may now edit it, the attacker among them
    attacker.sh(f"echo '  evil: {{command: touch {marker}, interval: 0.2s}}' >> {jobfile}")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("Reload failed")
    assert (f"{jobfile}: not trusted: group or others may write it (mode -rw-rw-r--, owner "
            f"{runner.name}); fix: chmod go-w {jobfile}") in daemon.log()
    keeps_ticking(state, log=daemon.log)
    assert not marker.exists()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0

    restart = fork_schedctl_as(runner, ["run", str(jobfile)], cwd=home,
                               log=tmp_path / "restart.log", env=env)
    assert restart.wait_exit() == 2
    assert f"schedctl: {jobfile}: not trusted: group or others may write it" in restart.log()
    assert not marker.exists()
