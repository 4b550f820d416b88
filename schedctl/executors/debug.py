"""DebugExecutor: runs each job in the scheduler's own thread, at once.

Useful when determinism matters more than concurrency: in tests driven by a
fake clock, and when stepping through a job in a debugger.
"""

from __future__ import annotations

import sys
from datetime import datetime

from schedctl.executors.base import BaseExecutor, JobCall, run_job
from schedctl.job import Job


class DebugExecutor(BaseExecutor):
    """Runs the job inside ``submit_job`` and reports its events before returning."""

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        assert self._scheduler is not None
        try:
            events = run_job(
                job.func, JobCall(job), run_times, self._scheduler._clock, self._logger.name
            )
        except BaseException:
            self._run_job_error(job.id, *sys.exc_info()[1:])
        else:
            self._run_job_success(job.id, events)
