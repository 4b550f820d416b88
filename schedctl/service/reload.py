"""Reloading the jobfile of a running ``schedctl run`` (SIGHUP).

A reload is all or nothing: an invalid jobfile, or a store that cannot be
written, is reported and the jobs already running are kept as they were.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from schedctl.clock import Clock
from schedctl.errors import StoreError
from schedctl.jobfile.loader import JobfileError
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.schedulers.blocking import BlockingScheduler
from schedctl.service.alertrules import AlertRules
from schedctl.service.pingrules import PingRules
from schedctl.service.safety import RunAsRefusedError, check_run_as
from schedctl.service.startup import build_executors, open_jobfile
from schedctl.service.systemd import Notifier
from schedctl.state.sync import SyncReport, sync_jobs

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode
    from schedctl.service.startup import ServeOptions

_logger = logging.getLogger("schedctl.run")


class Reloading:
    """Mixed into Service: re-reading its jobfile and syncing the store to it."""

    jobfile: Jobfile
    options: ServeOptions
    store: SQLJobStore
    clock: Clock
    node: ClusterNode | None
    notifier: Notifier
    scheduler: BlockingScheduler
    alert_rules: AlertRules
    pings: PingRules

    if TYPE_CHECKING:

        def _status_line(self) -> str: ...

    def reload(self) -> SyncReport | None:
        """Re-read the jobfile; an invalid one is reported and the running jobs are kept."""
        self.notifier.reloading()
        try:
            jobfile = open_jobfile(self.options.jobfile, crontab=self.options.crontab,
                                   system=self.options.system)
            check_run_as(jobfile)
        except (JobfileError, RunAsRefusedError) as exc:
            _logger.error("Reload failed; still running the previous jobs:\n%s", exc)
            self.notifier.notify("READY=1", "STATUS=Reload failed; running the previous jobfile")
            return None
        try:
            with self.scheduler._jobstores_lock:
                if self.node is not None:
                    report = self.node.sync(jobfile, self.clock.now()) or SyncReport()
                else:
                    report = sync_jobs(jobfile, self.store, self.clock.now())
                self.alert_rules.refresh()
                self.pings.refresh()
                self._add_new_executors(jobfile)
        except StoreError as exc:  # raised here, it would end the control thread
            _logger.error("Reload failed; still running the previous jobs: %s", exc)
            self.notifier.notify("READY=1", "STATUS=Reload failed: the state file cannot be written")
            return None
        if jobfile.metrics != self.jobfile.metrics and self.options.metrics is None:
            _logger.warning("metrics: the new listen address takes effect when schedctl restarts")
        self.jobfile = jobfile
        self.scheduler.wakeup()
        _logger.info("Reloaded %s: %s", jobfile.path, report.summary())
        self.notifier.notify("READY=1", f"STATUS={self._status_line()}")
        return report

    def _add_new_executors(self, jobfile: Jobfile) -> None:
        for name, executor in build_executors(jobfile).items():
            if name not in self.scheduler._executors:
                self.scheduler.add_executor(executor, name)
