"""The run guard of a local ``schedctl run``: only what the jobfile declares ever runs.

The state file remembers the jobfile's jobs, but it is a file, and whoever can write it
could change what a job runs. So before each run, the job read from the store is compared
with the one the jobfile builds (``state.binding``): a job the jobfile does not hold, or
one whose function, arguments, command, environment or alerts differ, is not run. The run
is recorded as not started and the mismatch is logged as an error, once. On PostgreSQL
the database is trusted as its credentials are, and a node may run jobs another node's
jobfile declared, so no guard is installed there.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from schedctl.errors import SchedctlError
from schedctl.job import Job
from schedctl.jobfile.digests import sha256
from schedctl.jobfile.specs import Jobfile
from schedctl.state.binding import action_differences, job_action
from schedctl.state.sync import build_job

_logger = logging.getLogger("schedctl.run")

#: Records one refused run: ``(job_id, scheduled_for, error)``.
Refusal = Callable[[str, datetime, str], None]


class UnboundJobError(SchedctlError):
    """A job in the state file is not what the jobfile declares."""

    def __init__(self, job_id: str, problem: str) -> None:
        super().__init__(f"{job_id}: not run: {problem}")
        self.job_id = job_id


class JobfileGuard:
    """Called by the scheduler before each submission (its ``run_guard``)."""

    def __init__(self, jobfile: Jobfile, refuse: Refusal | None = None) -> None:
        self.refuse = refuse  # records a refused run (the service's run log)
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()
        self.jobs: dict[str, Job] = {}
        self._expected: dict[str, dict[str, object]] = {}
        self.use(jobfile)

    def use(self, jobfile: Jobfile) -> None:
        """Take the definitions of ``jobfile`` (at start and after each reload)."""
        jobs = {spec.id: build_job(spec, jobfile) for spec in jobfile.jobs.values()}
        expected = {job_id: job_action(job) for job_id, job in jobs.items()}
        with self._lock:
            self.jobs, self._expected = jobs, expected

    def __call__(self, job: Job, run_times: list[datetime]) -> bool:
        problem = self.problem(job)
        if problem is None:
            return True
        self._report_once(job, problem)
        if self.refuse is not None:
            for run_time in run_times:
                self.refuse(job.id, run_time, f"not run: {problem}")
        return False

    def problem(self, job: Job) -> str | None:
        """Why ``job`` as stored may not run, or None when the jobfile declares it so."""
        with self._lock:
            expected = self._expected.get(job.id)
        if expected is None:
            return ("the jobfile does not declare it; the state file was changed outside "
                    "schedctl")
        paths = action_differences(expected, job_action(job))
        if not paths:
            return None
        return (f"its definition in the state file differs from the jobfile's in "
                f"{', '.join(paths)}; the state file was changed outside schedctl")

    def check(self, job: Job) -> Job:
        """The jobfile's own job for ``job``; UnboundJobError when they differ."""
        problem = self.problem(job)
        if problem is not None:
            raise UnboundJobError(job.id, problem)
        return self.jobs[job.id]

    def _report_once(self, job: Job, problem: str) -> None:
        digest = sha256(json.dumps(job_action(job), sort_keys=True).encode()).hexdigest()
        with self._lock:
            if (job.id, digest) in self._reported:
                return
            self._reported.add((job.id, digest))
        _logger.error("%s: not run: %s. Reload (SIGHUP) to write the jobfile's definition back, "
                      "and find out who changed the state file", job.id, problem,
                      extra={"job_id": job.id, "event": "refused"})
