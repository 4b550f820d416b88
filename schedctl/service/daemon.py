"""``schedctl run``: the foreground service around a BlockingScheduler.

The main thread runs the scheduler loop; a control thread answers signals and
beats the heartbeat (``signals.py``). Start-up checks and the first pass live in
``startup.py``, reloading the jobfile in ``reload.py``; this module ties them
together and handles ``overlap: replace``.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.clock import Clock, SystemClock
from schedctl.commands.jobrunner import ATTEMPT_LISTENERS, RETRY_LISTENERS, STOP_RETRIES
from schedctl.commands.processes import DEFAULT_REGISTRY
from schedctl.commands.reaper import split_init
from schedctl.errors import JobLookupError, StoreError
from schedctl.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_START,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.metrics.health import LoopWatch
from schedctl.schedulers.blocking import BlockingScheduler
from schedctl.service.alertrules import AlertRules
from schedctl.service.auditlines import AuditLines
from schedctl.service.filewatch import FileSignature, FileWatch
from schedctl.service.live import LivePublisher
from schedctl.service.jobguard import JobfileGuard
from schedctl.service.pingrules import PingRules
from schedctl.service.reload import Reloading
from schedctl.service.runlog import RUN_EVENTS, RunLog
from schedctl.service.signals import ControlLoop
from schedctl.service.statewatch import StateFileWatch, record_state
from schedctl.service.startup import (
    ServeOptions,
    StartupSteps,
    build_executors,
    opened_store,
    quiet_engine_logs,
)
from schedctl.service.systemd import Notifier
from schedctl.state.history import RunHistory, RunOutcome

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode
    from schedctl.jobstores._pg_leases import Rerun
    from schedctl.metrics.exporter import MetricsExporter
    from schedctl.metrics.server import MetricsServer

__all__ = ["ServeOptions", "Service", "serve"]

_logger = logging.getLogger("schedctl.run")


def serve(options: ServeOptions, clock: Clock | None = None) -> int:
    """Validate, sync and run until told to stop. Returns the exit code."""
    if os.getpid() == 1 and (code := split_init()) is not None:
        return code  # PID 1 reaped orphans and forwarded signals; its child ran the scheduler
    clock = clock or SystemClock()
    quiet_engine_logs()
    seen = FileSignature.of(options.jobfile)  # before reading: a change after it is reloaded
    with opened_store(options) as (jobfile, store, node):
        record_state(jobfile, store)  # so that commands given -f JOBFILE find this state
        return Service(jobfile, store, clock, options, node=node, jobfile_seen=seen).run()


class Service(ControlLoop, Reloading, StartupSteps, StateFileWatch):
    """One running ``schedctl run``: the scheduler, its listeners and its control thread."""

    def __init__(
        self, jobfile: Jobfile, store: SQLJobStore, clock: Clock, options: ServeOptions,
        node: ClusterNode | None = None, jobfile_seen: FileSignature | None = None,
    ) -> None:
        self.jobfile = jobfile
        seen = jobfile_seen or FileSignature.of(options.jobfile)
        self.jobfile_watch = FileWatch(options.jobfile, seen, SystemClock().monotonic())
        self.store = store
        self.clock = clock
        self.options = options
        self.node = node
        self.history = RunHistory(store)
        self.history.defer_first_prunes = True  # pruned at the control thread's heartbeat
        self.notifier = Notifier()
        if node is not None:
            # A node's scheduler runs on the database's time, as every other node's does.
            from schedctl.cluster.node import DatabaseTime

            node.time = DatabaseTime(clock, node.store)
            node.time.resync()
            self.clock = clock = node.time
        self.owner = node.owner if node else f"{socket.gethostname()}/{os.getpid()}"
        store.runs_owner = self.owner  # claims insert their run rows (and leases, with a node)
        listen = options.metrics or (jobfile.metrics.listen if jobfile.metrics else None)
        self._listen_where = ("--metrics" if options.metrics
                              else jobfile.metrics.where if jobfile.metrics else "")
        # With metrics, the loop's clock notes when the loop is due back, for /healthz.
        self.loop_watch = LoopWatch(clock) if listen is not None else None
        # A local state file runs only what the jobfile declares (see jobguard.py).
        self.guard = JobfileGuard(jobfile) if node is None else None
        self.scheduler = BlockingScheduler(
            jobstores={"default": store}, executors=build_executors(jobfile),
            timezone=jobfile.timezone, clock=self.loop_watch or clock, run_guard=self.guard,
        )
        self.alerts = AlertDispatcher()
        self.alert_rules = AlertRules(store, self.history, self.alerts)
        self.pings = PingRules(store, self.alerts)
        self.live = LivePublisher(store, self.owner)
        self.runlog = RunLog(self.history, clock, self.owner, replacing=self._replaces,
                             after_run=self._after_run, given_up=self.pings.ended)
        if self.guard is not None:
            self.guard.refuse = self.runlog.refused
        self.scheduler.add_listener(self.runlog, RUN_EVENTS)
        self.scheduler.add_listener(self._started, EVENT_JOB_SUBMITTED)
        self.scheduler.add_listener(self._replace_running, EVENT_JOB_MAX_INSTANCES)
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.audit = AuditLines(store, clock, shared=node is not None)
        store.change_listeners.append(self.audit.wake)  # another process changed the store
        self._stopped = threading.Event()
        self._start_note: str | None = None
        self.exporter: MetricsExporter | None = None
        self._listen = listen
        if node is not None:
            node.start_rerun = self._start_rerun
            node.name_lost = lambda: self._signals.put(signal.SIGTERM)

    def run(self) -> int:
        now = self.clock.now()
        metrics = self._bind_metrics()  # a taken address stops us before the state changes
        report = self._sync_at_start(now)
        self._bind(self.jobfile)
        self._start_metrics(metrics)  # counting from here: the catch-up's missed runs count too
        self._catch_up(now)
        self._run_boot_jobs(now)
        if (node := self.node) is not None:
            # Its reaper may start reruns: only once the scheduler can take them.
            self.scheduler.add_listener(lambda event: node.start(), EVENT_SCHEDULER_START)
        else:
            self.history.announce(pid=os.getpid(), hostname=socket.gethostname(), at=now,
                                  jobfile=str(Path(self.jobfile.path).resolve()))
        self._install_signal_handlers()  # signals wait in the queue until the control thread runs
        control = threading.Thread(target=self._control_loop, name="schedctl-control", daemon=True)
        # Started by the scheduler's start event, so a stop never races a scheduler not yet running.
        self.scheduler.add_listener(lambda event: control.start(), EVENT_SCHEDULER_START)
        where = self.store.location + (f" as node {self.node.node_id}" if self.node else "")
        _logger.info("schedctl started on %s: %s", where, self._start_note or report.summary())
        self.audit.start()  # what was asked while no scheduler ran, then as it comes
        STOP_RETRIES.clear()
        attempt_listeners = (self.runlog.attempt_failed, self.pings.attempt_failed)
        ATTEMPT_LISTENERS.extend(attempt_listeners)
        RETRY_LISTENERS.append(self.pings.retry_started)
        self.live.start()
        try:
            self.scheduler.start()  # blocks until the control thread shuts it down
            self._stopped.wait()
        finally:
            for listener in attempt_listeners:
                ATTEMPT_LISTENERS.remove(listener)
            RETRY_LISTENERS.remove(self.pings.retry_started)
            self.live.stop()
            self.audit.close()
        if self.exporter is not None:
            self.exporter.close()
        if not self.runlog.flush():
            _logger.error("%d run record(s) held since the state file failed could not be "
                          "written before the stop; the log above has them", self.runlog.held)
        if self.node is not None:
            self.node.leave()
        else:
            try:
                self.history.stopped(at=self.clock.now())
            except StoreError as exc:  # a stop asked for is still a clean stop, on a full disk too
                _logger.warning("Could not note the stop in the state file: %s", exc)
        _logger.info("schedctl stopped")
        return 0

    def _started(self, event: SchedulerEvent) -> None:
        if isinstance(event, JobSubmissionEvent) and event.job_id:
            for run_time in event.scheduled_run_times:
                self.pings.started(event.job_id, run_time)

    def _after_run(self, job_id: str, scheduled_for: datetime, outcome: RunOutcome) -> None:
        """A run's outcome is recorded: its end ping, then the alerts it calls for."""
        self.pings.ended(job_id, scheduled_for, outcome)
        self.alert_rules.after_run(job_id, scheduled_for, outcome)

    def _bind(self, jobfile: Jobfile) -> None:
        """Take the jobs of a (re)loaded jobfile as the only ones that may run, with their
        alerts and pings; a node runs the shared store's, as the database holds them."""
        if self.guard is not None:
            self.guard.use(jobfile)
            self.alert_rules.refresh(self.guard.jobs)
            self.pings.refresh(self.guard.jobs.values())
        else:
            self.alert_rules.refresh()
            self.pings.refresh()

    def _bind_metrics(self) -> MetricsServer | None:
        """Listen on the metrics address when asked to; nothing listens otherwise."""
        if self._listen is None:
            return None
        # Imported only when asked for: http.server brings in ssl, 5 MB of the daemon's RSS.
        from schedctl.metrics.server import MetricsListenError, MetricsServer

        server = MetricsServer(self._listen, where=self._listen_where)
        try:
            server.bind()
        except MetricsListenError:
            if self.node is not None:
                self.node.leave()  # it joined: the other nodes need not wait for its lease
            raise
        return server

    def _start_metrics(self, server: MetricsServer | None) -> None:
        """Serve /metrics and /healthz on the address bound at start."""
        if server is None or self.loop_watch is None:
            return
        from schedctl.metrics.exporter import MetricsExporter  # the exporter's modules: only if asked

        self.exporter = MetricsExporter(
            server, self.store, self.history, watch=self.loop_watch,
            running=self._running_now, alerts=self.alerts.counts.snapshot,
            failing_since=lambda: min(self.scheduler.failing_stores().values(), default=None),
            node=self.node.node_id if self.node else None,
        )
        self.exporter.start()

    def _running_now(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for executor in list(self.scheduler._executors.values()):
            for job_id, count in executor.running_jobs().items():
                counts[job_id] = counts.get(job_id, 0) + count
        return counts

    def _start_rerun(self, rerun: Rerun) -> None:
        """A run orphaned on a dead node, whose next attempt this node claimed. It is late by
        design (a lease and more), so the misfire grace, meant for the schedule, is waived."""
        rerun.job.misfire_grace_time = None
        self.scheduler.submit_run(rerun.job, rerun.claim.scheduled_for)

    # -- overlap: replace ----------------------------------------------------------------------

    def _replaces(self, job_id: str) -> bool:
        job = self.store.lookup_job(job_id)
        return job is not None and job.meta.get("overlap") == "replace"

    def _replace_running(self, event: SchedulerEvent) -> None:
        """``overlap: replace``: stop the running instance, then start the refused run."""
        if not isinstance(event, JobSubmissionEvent) or not event.job_id:
            return
        job = self.store.lookup_job(event.job_id)
        if job is None or job.meta.get("overlap") != "replace":
            return
        when = event.scheduled_run_times[-1]
        grace = float(job.meta.get("kill_grace", 10.0))
        threading.Thread(target=self._replace, args=(job.id, when, grace), daemon=True,
                         name=f"schedctl-replace-{job.id}").start()

    def _replace(self, job_id: str, when: datetime, grace: float) -> None:
        DEFAULT_REGISTRY.terminate_job(job_id, grace, wait=True, reason="replaced")
        for executor in list(self.scheduler._executors.values()):
            executor.wait_idle(grace + 5, job_id=job_id)  # until the old run has recorded its end
        if self.node is not None:
            # This node holds the run's claim: a request in the shared table could be taken
            # by another node, which holds no lease for it.
            job = self.store.lookup_job(job_id)
            if job is not None:
                self.scheduler.submit_run(job, when)
            return
        try:
            self.store.request_run(job_id, when)
        except JobLookupError:
            return
        self.scheduler.wakeup()
