"""Reloading the jobfile of a running ``schedctl run``: on SIGHUP, or when the file changed.

A reload is all or nothing: an invalid or unreadable jobfile, one that another user could have
changed (the trust rule applies at every reload, as at start), or a store that
cannot be written, is reported and the jobs already running are kept as they were.
Its log line says who asked (a signal, a change to the file), for the audit trail.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from schedctl.clock import Clock
from schedctl.errors import SchedctlError, StoreError
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.schedulers.blocking import BlockingScheduler
from schedctl.service.alertrules import AlertRules
from schedctl.service.filewatch import FileSignature, FileWatch
from schedctl.service.jobwarnings import log_job_warnings
from schedctl.service.pingrules import PingRules
from schedctl.service.runas import check_run_as
from schedctl.service.startup import build_executors, open_jobfile
from schedctl.service.systemd import Notifier
from schedctl.state.sync import SyncReport, sync_jobs

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode
    from schedctl.service.startup import ServeOptions

_logger = logging.getLogger("schedctl.run")

#: The shortest time from the end of one reload to the start of the next: however many
#: SIGHUPs arrive meanwhile, they are served together, by one reload.
RELOAD_GAP_SECONDS = 1.0


class ReloadRequests:
    """Who asked for a reload since the last one: SIGHUPs and changes to the file.

    A reload is due once someone asked, but no sooner than :data:`RELOAD_GAP_SECONDS`
    after the previous one ended, so a storm of 200 SIGHUPs makes one or two reloads.
    Times are ``time.monotonic()`` seconds handed in by the caller.
    """

    def __init__(self) -> None:
        self.hangups = 0
        self.changes: list[str] = []
        self._allowed_at = -math.inf

    @property
    def due_at(self) -> float:
        """When the next reload may start (infinity while nobody asked for one)."""
        return self._allowed_at if self.hangups or self.changes else math.inf

    def take(self, now: float) -> str | None:
        """Why to reload now (and forget who asked), or None when none is due yet."""
        if now < self.due_at:
            return None
        reasons = [*self.changes]
        if self.hangups:
            many = f" (x{self.hangups}, coalesced)" if self.hangups > 1 else ""
            reasons.insert(0, f"SIGHUP{many}")
        self.hangups, self.changes = 0, []
        return " and ".join(reasons)

    def done(self, now: float) -> None:
        """A reload ended at ``now``: the next one waits for the gap."""
        self._allowed_at = now + RELOAD_GAP_SECONDS


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
    jobfile_watch: FileWatch

    if TYPE_CHECKING:

        def _status_line(self) -> str: ...
        def _bind(self, jobfile: Jobfile) -> None: ...

    def reload(self, reason: str = "SIGHUP") -> SyncReport | None:
        """Re-read the jobfile; an invalid one is reported and the running jobs are kept.
        ``reason`` says who asked, for the log.

        Whatever else goes wrong is logged with its traceback and the running jobs are
        kept too: raised here, it would end the control thread, and with it SIGTERM
        handling. Stops come to that thread as queued signals, never as exceptions, so
        even what is not an Exception (a ``call:`` module raising GeneratorExit at its
        import) is caught.
        """
        try:
            return self._reload(reason)
        except BaseException:  # noqa: BLE001 - see the docstring
            _logger.exception("Reload failed (asked by %s) on an unexpected error; still "
                              "running the previous jobs", reason)
            self.notifier.notify("READY=1", "STATUS=Reload failed; running the previous jobfile")
            return None

    def _reload(self, reason: str) -> SyncReport | None:
        self.notifier.reloading()
        # Taken before reading: a change made while the file is read is seen by the watch.
        self.jobfile_watch.loaded(FileSignature.of(self.options.jobfile))
        try:
            jobfile = open_jobfile(self.options.jobfile, crontab=self.options.crontab,
                                   system=self.options.system)
            check_run_as(jobfile)
        except SchedctlError as exc:  # invalid, untrusted, unreadable: raised here, it
            # would end the control thread, and with it SIGTERM handling
            _logger.error("Reload failed (asked by %s); still running the previous jobs:\n%s",
                          reason, exc)
            self.notifier.notify("READY=1", "STATUS=Reload failed; running the previous jobfile")
            return None
        log_job_warnings(jobfile)
        try:
            with self.scheduler._jobstores_lock:
                if self.node is not None:
                    report = self.node.sync(jobfile, self.clock.now()) or SyncReport()
                else:
                    report = sync_jobs(jobfile, self.store, self.clock.now())
                self._bind(jobfile)
                self._add_new_executors(jobfile)
        except StoreError as exc:  # raised here, it would end the control thread
            _logger.error("Reload failed (asked by %s); still running the previous jobs: %s",
                          reason, exc)
            self.notifier.notify("READY=1", "STATUS=Reload failed: the state file cannot be written")
            return None
        if jobfile.metrics != self.jobfile.metrics and self.options.metrics is None:
            _logger.warning("metrics: the new listen address takes effect when schedctl restarts")
        self.jobfile = jobfile
        self.scheduler.wakeup()
        _logger.info("Reloaded %s (asked by %s): %s", jobfile.path, reason, report.summary())
        self.notifier.notify("READY=1", f"STATUS={self._status_line()}")
        return report

    def _add_new_executors(self, jobfile: Jobfile) -> None:
        for name, executor in build_executors(jobfile).items():
            if name not in self.scheduler._executors:
                self.scheduler.add_executor(executor, name)
