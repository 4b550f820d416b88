"""The pieces behind the attacks' tests, one at a time: the run guard in the engine, the
jobfile's binding of what runs, the import path, and the commands that only warn."""

from __future__ import annotations

import logging
import os
import pwd
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from schedctl.events import EVENT_JOB_EXECUTED
from schedctl.jobfile.loader import JobfileError, parse_jobfile
from schedctl.jobstores.memory import MemoryJobStore
from schedctl.service.jobguard import JobfileGuard, UnboundJobError
from schedctl.service.startup import add_import_path, import_directory, open_jobfile
from schedctl.state.binding import action_differences, job_action
from schedctl.state.sync import build_job, sync_jobs
from schedctl.trust import set_insecure
from tests.conftest import CALLS, START

JOBFILE = """
jobs:
  backup:
    command: tar czf /tmp/etc.tgz /etc
    interval: 1h
    env: {TOKEN: secret}
    on_failure: [{command: echo failed}]
  report: {call: "tests.conftest:record", args: [1], interval: 1h}
"""


@pytest.fixture
def jobfile():
    return parse_jobfile(JOBFILE, "jobs.yaml", check_imports=False)


# -- the engine's run guard ---------------------------------------------------------------------


def test_a_run_guard_decides_each_submission(debug_scheduler, event_log) -> None:
    asked: list[tuple[str, list]] = []

    def guard(job, run_times) -> bool:
        asked.append((job.id, run_times))
        return job.id == "allowed"

    debug_scheduler.configure(run_guard=guard)
    CALLS.clear()
    for job_id in ("allowed", "refused"):
        debug_scheduler.add_job("tests.conftest:record", "interval", minutes=1, id=job_id,
                                args=[job_id])
    debug_scheduler.start()
    debug_scheduler.tick(START + timedelta(minutes=1))

    assert [args for args, _ in CALLS] == [("allowed",)]
    assert sorted(job_id for job_id, _ in asked) == ["allowed", "refused"]
    assert [e.job_id for e in event_log.of(EVENT_JOB_EXECUTED)] == ["allowed"]


def test_a_guard_that_fails_lets_nothing_run(debug_scheduler, caplog) -> None:
    def guard(job, run_times) -> bool:
        raise RuntimeError("broken guard")

    debug_scheduler.configure(run_guard=guard)
    CALLS.clear()
    debug_scheduler.add_job("tests.conftest:record", "interval", minutes=1, id="job")
    debug_scheduler.start()
    with caplog.at_level(logging.ERROR, logger="schedctl.scheduler"):
        debug_scheduler.tick(START + timedelta(minutes=1))
    assert CALLS == []
    assert "The run guard failed on job job; not running it" in caplog.text


# -- what a job runs, compared -------------------------------------------------------------------


@pytest.mark.parametrize(("change", "paths"), [
    (lambda job: job.kwargs["spec"].update(command="touch /tmp/x"), ["kwargs.spec.command"]),
    (lambda job: job.kwargs["spec"]["env"].update(TOKEN="other"), ["kwargs.spec.env.TOKEN"]),
    (lambda job: job.kwargs["spec"].update(env_file="/tmp/env"), ["kwargs.spec.env_file"]),
    (lambda job: setattr(job, "func_ref", "os:system"), ["func"]),
    (lambda job: job.meta["on_failure"][0].update(command="touch /tmp/x"), ["on_failure"]),
    (lambda job: job.meta.update(description="only words"), []),
], ids=["command", "env-value", "env_file", "func", "alert", "description"])
def test_the_guard_names_what_differs_but_no_value(jobfile, change, paths) -> None:
    guard = JobfileGuard(jobfile)
    stored = build_job(jobfile.jobs["backup"], jobfile)
    change(stored)
    assert action_differences(job_action(guard.jobs["backup"]), job_action(stored)) == paths
    problem = guard.problem(stored)
    if not paths:
        assert problem is None and guard.check(stored) is guard.jobs["backup"]
        return
    assert problem is not None and ", ".join(paths) in problem
    assert "secret" not in problem and "other" not in problem
    with pytest.raises(UnboundJobError, match="backup: not run: its definition in the state"):
        guard.check(stored)


def test_the_guard_refuses_a_job_the_jobfile_lacks_and_logs_it_once(jobfile, caplog) -> None:
    refused: list[tuple[str, str]] = []
    guard = JobfileGuard(jobfile, refuse=lambda job_id, when, error: refused.append((job_id, error)))
    stranger = build_job(jobfile.jobs["report"], jobfile)
    stranger.id = "stranger"
    with caplog.at_level(logging.ERROR, logger="schedctl.run"):
        assert guard(stranger, [START]) is False
        assert guard(stranger, [START, START + timedelta(hours=1)]) is False
        assert guard(build_job(jobfile.jobs["report"], jobfile), [START]) is True
    assert len(refused) == 3 and refused[0][1].startswith("not run: the jobfile does not declare")
    assert caplog.text.count("stranger: not run") == 1


def test_a_sync_rewrites_a_job_whose_action_was_changed_behind_its_back(jobfile) -> None:
    store = MemoryJobStore()
    sync_jobs(jobfile, store, START)
    tampered = store.lookup_job("backup")
    tampered.kwargs["spec"]["command"] = "touch /tmp/x"  # its definition_hash left as it was
    store.update_job(tampered)

    report = sync_jobs(jobfile, store, START)

    assert report.updated == ["backup"] and report.unchanged == ["report"]
    assert store.lookup_job("backup").kwargs["spec"]["command"] == "tar czf /tmp/etc.tgz /etc"


# -- the import path of call: jobs ----------------------------------------------------------------


def test_the_jobfile_directory_comes_after_the_standard_library(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    (tmp_path / "jobsmod_beside.py").write_text("VALUE = 42\n")
    directory = import_directory(str(tmp_path / "jobs.yaml"))
    assert directory == str(tmp_path.resolve())
    add_import_path(directory)
    assert sys.path[-1] == directory
    import importlib
    import json

    monkeypatch.delitem(sys.modules, "json")
    assert importlib.import_module("json").__file__ == json.__file__
    assert importlib.import_module("jobsmod_beside").VALUE == 42


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775], ids=["open", "sticky", "group"])
def test_a_directory_others_may_add_files_to_is_never_on_the_import_path(tmp_path, mode,
                                                                          monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    module = f"beside_jobs_{mode:o}"  # each case imports its own: none is cached yet
    (tmp_path / f"{module}.py").write_text("def work():\n    pass\n")
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text(f"jobs:\n  work: {{call: '{module}:work', interval: 1h}}\n")
    tmp_path.chmod(mode)
    assert import_directory(str(jobfile)) is None
    with pytest.raises(JobfileError) as refused:
        open_jobfile(str(jobfile), trusted=False)
    assert f"cannot import '{module}:work'" in str(refused.value)
    assert (f"{jobfile}: modules beside the jobfile are not imported: group or others may add "
            f"files to it (mode {stat.filemode(0o040000 | mode)})") in str(refused.value)
    set_insecure(True)  # the way around: appended all the same, and said
    try:
        assert open_jobfile(str(jobfile), trusted=False).jobs["work"].call == f"{module}:work"
    finally:
        set_insecure(False)
    assert sys.path[-1] == str(tmp_path.resolve())


# -- the commands that only warn ------------------------------------------------------------------


def test_validate_and_systemd_unit_warn_about_a_jobfile_run_would_refuse(tmp_path, schedctl):
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text(f"state: {tmp_path}/state.db\njobs:\n  a: {{command: 'true', interval: 1h}}\n")
    jobfile.chmod(0o644)
    commands = (["validate"], ["systemd-unit", "--user", pwd.getpwuid(os.geteuid()).pw_name])
    for command in commands:
        quiet = schedctl(*command, jobfile)
        assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr
    jobfile.chmod(0o664)
    for command in commands:
        loud = schedctl(*command, jobfile)
        assert loud.returncode == 0
        assert (f"schedctl: warning: {jobfile}: schedctl run would refuse it: group or others "
                "may write it") in loud.stderr


@pytest.mark.parametrize("unit", ["schedctl.service", "schedctl@.service", "schedctl-node.service"])
def test_the_contrib_units_name_files_that_pass_the_rule(unit: str) -> None:
    """Their jobfile sits in /etc/schedctl, their state in systemd's StateDirectory (0700,
    root's): places only root may write, on any system laid out as this one is."""
    from schedctl.trust import trust_problem

    text = (Path(__file__).resolve().parents[2] / "contrib" / unit).read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    jobfile = exec_start.split()[-1].replace("%i", "jobs")
    assert jobfile.startswith("/etc/schedctl/") and trust_problem(jobfile, uid=0) is None
    if "--state /" in exec_start:
        state = exec_start.split("--state ")[1].split()[0].replace("%i", "jobs")
        assert state.startswith("/var/lib/schedctl/")
        assert "StateDirectory=schedctl" in text and "StateDirectoryMode=0700" in text
        assert trust_problem("/var/lib/schedctl", uid=0) is None
