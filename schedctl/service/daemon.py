"""``schedctl run``: the foreground service around a BlockingScheduler.

The main thread runs the scheduler loop. Signal handlers only queue the signal
number (``SimpleQueue.put`` is safe in a handler); a control thread takes it from
there to stop gracefully (SIGTERM, SIGINT) or reload the jobfile (SIGHUP), and
between signals beats the heartbeat that ``schedctl status`` and the systemd
watchdog read.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from schedctl.service.alertrules import AlertRules
from schedctl.alerts.core import AlertDispatcher
from schedctl.clock import Clock, SystemClock
from schedctl.commands.runner import DEFAULT_REGISTRY
from schedctl.errors import JobLookupError, StaleJobError, StoreError
from schedctl.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_SCHEDULER_START,
    JobSubmissionEvent,
    SchedulerEvent,
)
from schedctl.executors.base import BaseExecutor
from schedctl.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.job import Job
from schedctl.jobfile.loader import JobfileError, load_jobfile, resolve_state
from schedctl.jobfile.specs import Jobfile
from schedctl.commands.jobrunner import ATTEMPT_LISTENERS, STOP_RETRIES
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.commands.reaper import split_init
from schedctl.state.runlock import RunLock
from schedctl.service.runlog import RUN_EVENTS, RunLog
from schedctl.service.safety import check_jobfile_safety
from schedctl.schedulers.blocking import BlockingScheduler
from schedctl.state.sync import SyncReport, sync_jobs
from schedctl.service.systemd import Notifier, watchdog_interval
from schedctl.triggers.boot import BootTrigger, current_boot_id

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode
    from schedctl.jobstores._pg_leases import Rerun

HEARTBEAT_SECONDS = 10.0
#: How long job threads may take to record their end once their commands were killed.
RECORD_GRACE_SECONDS = 5.0
#: How long alerts still queued at shutdown may take to go out.
ALERT_DRAIN_SECONDS = 10.0

_logger = logging.getLogger("schedctl.run")


@dataclass(frozen=True)
class ServeOptions:
    jobfile: str
    state: str | None = None
    shutdown_timeout: float = 30.0
    insecure: bool = False
    node: str | None = None  # this node's name in a PostgreSQL store (default: cluster.node)


def add_import_path(directory: str) -> None:
    """Let ``call:`` jobs import modules that sit beside the jobfile (also in pool workers)."""
    if directory not in sys.path:
        sys.path.insert(0, directory)


def open_jobfile(path: str) -> Jobfile:
    """Load a jobfile with its directory importable, so ``call:`` targets can be checked."""
    add_import_path(str(Path(path).resolve().parent))
    return load_jobfile(path)


def build_executors(jobfile: Jobfile) -> dict[str, BaseExecutor]:
    directory = str(Path(jobfile.path).resolve().parent)
    executors: dict[str, BaseExecutor] = {"default": ThreadPoolExecutor(20)}
    for name, spec in jobfile.executors.items():
        if spec.type == "processpool":
            pool = {"initializer": add_import_path, "initargs": (directory,)}
            executors[name] = ProcessPoolExecutor(spec.max_workers, pool_kwargs=pool)
        else:
            executors[name] = ThreadPoolExecutor(spec.max_workers)
    return executors


def serve(options: ServeOptions, clock: Clock | None = None) -> int:
    """Validate, sync and run until told to stop. Returns the exit code."""
    if os.getpid() == 1 and (code := split_init()) is not None:
        return code  # PID 1 reaped orphans and forwarded signals; its child ran the scheduler
    clock = clock or SystemClock()
    # RunLog writes one line per run; the engine's own per-run lines would repeat it.
    logging.getLogger("schedctl.executors").setLevel(logging.CRITICAL)
    logging.getLogger("schedctl.scheduler").setLevel(logging.ERROR)
    check_jobfile_safety(options.jobfile, insecure=options.insecure)
    jobfile = open_jobfile(options.jobfile)
    location = resolve_state(options.state, jobfile)
    if isinstance(location, str):  # a PostgreSQL store: one node of several
        from schedctl.cluster.node import ClusterNode, check_guardable
        from schedctl.jobstores.postgresql import PostgreSQLJobStore

        check_guardable(jobfile)
        shared = PostgreSQLJobStore(location)
        node = ClusterNode(shared, jobfile, node_id=options.node)
        node.join()
        return Service(jobfile, shared, clock, options, node=node).run()
    state_path = str(location)
    with RunLock(state_path):
        # The lock makes this the file's only scheduler: it may run from memory when the file fails.
        store = SQLiteJobStore(path=state_path, keep_schedule_on_error=True)
        service = Service(jobfile, store, clock, options)
        return service.run()


class Service:
    """One running ``schedctl run``: the scheduler, its listeners and its control thread."""

    def __init__(
        self, jobfile: Jobfile, store: SQLJobStore, clock: Clock, options: ServeOptions,
        node: ClusterNode | None = None,
    ) -> None:
        self.jobfile = jobfile
        self.store = store
        self.clock = clock
        self.options = options
        self.node = node
        self.history = RunHistory(store)
        self.notifier = Notifier()
        if node is not None:
            # A node's scheduler runs on the database's time, as every other node's does.
            from schedctl.cluster.node import DatabaseTime

            node.time = DatabaseTime(clock, node.store)
            node.time.resync()
            self.clock = clock = node.time
        self.owner = node.owner if node else f"{socket.gethostname()}/{os.getpid()}"
        store.runs_owner = self.owner  # claims insert their run rows (and leases, with a node)
        self.scheduler = BlockingScheduler(
            jobstores={"default": store}, executors=build_executors(jobfile),
            timezone=jobfile.timezone, clock=clock,
        )
        self.alerts = AlertDispatcher()
        self.alert_rules = AlertRules(store, self.history, self.alerts)
        self.runlog = RunLog(self.history, clock, self.owner, self.scheduler.timezone,
                             replacing=self._replaces, after_run=self.alert_rules.after_run)
        self.scheduler.add_listener(self.runlog, RUN_EVENTS)
        self.scheduler.add_listener(self._replace_running, EVENT_JOB_MAX_INSTANCES)
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._start_note: str | None = None
        if node is not None:
            node.start_rerun = self._start_rerun
            node.name_lost = lambda: self._signals.put(signal.SIGTERM)

    def run(self) -> int:
        now = self.clock.now()
        report = self._sync_at_start(now)
        self.alert_rules.refresh()
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
        STOP_RETRIES.clear()
        ATTEMPT_LISTENERS.append(self.runlog.attempt_failed)
        try:
            self.scheduler.start()  # blocks until the control thread shuts it down
            self._stopped.wait()
        finally:
            ATTEMPT_LISTENERS.remove(self.runlog.attempt_failed)
        if self.node is not None:
            self.node.leave()
        else:
            try:
                self.history.stopped(at=self.clock.now())
            except StoreError as exc:  # a stop asked for is still a clean stop, on a full disk too
                _logger.warning("Could not note the stop in the state file: %s", exc)
        _logger.info("schedctl stopped")
        return 0

    def _sync_at_start(self, now: datetime) -> SyncReport:
        if self.node is not None:
            report = self.node.sync(self.jobfile, now)
            if report is None:
                self._start_note = "running the store's jobs (this node's jobfile was not applied)"
            return report or SyncReport()
        interrupted = self.history.interrupt_unfinished(at=now)
        if interrupted:
            _logger.warning("%d run(s) were cut short when schedctl last stopped; marked interrupted", interrupted)
        return sync_jobs(self.jobfile, self.store, now)

    def _start_rerun(self, rerun: Rerun) -> None:
        """A run orphaned on a dead node, whose next attempt this node claimed. It is late by
        design (a lease and more), so the misfire grace, meant for the schedule, is waived."""
        rerun.job.misfire_grace_time = None
        self.scheduler.submit_run(rerun.job, rerun.claim.scheduled_for)

    # -- the control thread ------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda number, frame: self._signals.put(number))

    def _control_loop(self) -> None:
        self.notifier.ready(self._status_line())
        beat = min(HEARTBEAT_SECONDS, watchdog_interval() or HEARTBEAT_SECONDS)
        while True:
            try:
                signum = self._signals.get(timeout=beat)
            except queue.Empty:
                self._heartbeat()
                continue
            if signum == signal.SIGHUP:
                self.reload()
            else:
                _logger.info("Received %s: stopping", signal.Signals(signum).name)
                self.stop()
                return

    def _heartbeat(self) -> None:
        try:
            if self.node is None:  # a node beats its own, every third of a lease
                self.history.heartbeat(at=self.clock.now())
        except StoreError as exc:  # already reported by the scheduler, which runs on from memory
            _logger.debug("Could not write the heartbeat to the state file: %s", exc)
        except Exception:
            _logger.exception("Could not write the heartbeat to the state file")
        self.notifier.watchdog()  # the scheduler is alive, store or no store
        try:
            self.notifier.status(self._status_line())
        except StoreError:  # raised here, it would end this thread, and with it SIGTERM handling
            pass

    def _status_line(self) -> str:
        # Sent at every heartbeat: counted in SQL, since decoding 100,000 jobs takes seconds.
        # Never waited for long: a hung database must not hold up this thread, which also
        # feeds the watchdog and takes SIGTERM.
        running = sum(ex.running_total() for ex in self.scheduler._executors.values())
        counts = self.store.try_count_jobs(wait=1.0)
        if counts is None:
            return f"{running} running; the state store is not answering"
        total, paused = counts
        return f"{total} jobs ({paused} paused), {running} running"

    # -- stop and reload ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop starting jobs, give running ones ``shutdown_timeout`` to finish, then end them."""
        self.notifier.stopping()
        if self.node is not None:
            self.node.draining = True
        STOP_RETRIES.set()  # a job waiting to retry gives up now
        if self.scheduler.running:
            self.scheduler.pause()
        executors = list(self.scheduler._executors.values())
        timeout = self.options.shutdown_timeout
        if not _wait_idle(executors, timeout):
            _logger.warning("Jobs still running after %ss; terminating them", timeout)
            # Each command gets its own kill_grace between SIGTERM and SIGKILL.
            DEFAULT_REGISTRY.terminate_all(wait=True)
            _wait_idle(executors, RECORD_GRACE_SECONDS)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.alerts.close(ALERT_DRAIN_SECONDS)  # alerts of the last runs still go out
        self._stopped.set()

    def reload(self) -> SyncReport | None:
        """Re-read the jobfile; an invalid one is reported and the running jobs are kept."""
        self.notifier.reloading()
        try:
            jobfile = open_jobfile(self.options.jobfile)
        except JobfileError as exc:
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
                self._add_new_executors(jobfile)
        except StoreError as exc:  # raised here, it would end the control thread
            _logger.error("Reload failed; still running the previous jobs: %s", exc)
            self.notifier.notify("READY=1", "STATUS=Reload failed: the state file cannot be written")
            return None
        self.jobfile = jobfile
        self.scheduler.wakeup()
        _logger.info("Reloaded %s: %s", jobfile.path, report.summary())
        self.notifier.notify("READY=1", f"STATUS={self._status_line()}")
        return report

    # -- overlap and catch-up ----------------------------------------------------------------------

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
        DEFAULT_REGISTRY.terminate_job(job_id, grace, wait=True)
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

    def _catch_up(self, now: datetime) -> None:
        """``catch_up: true``: a job whose runs were missed while schedctl was down runs once now."""
        for job in self.store.get_all_jobs():
            if not job.meta.get("catch_up") or job.next_run_time is None or not _missed(job, now):
                continue
            missed_from = job.next_run_time
            job.next_run_time = job.trigger.get_next_fire_time(None, now)
            try:
                if job.next_run_time is None:
                    self.store.remove_job(job.id)
                else:
                    self.store.update_job(job)
            except (StaleJobError, JobLookupError):
                continue  # another node ran or changed it meanwhile: nothing is missed
            self.history.finished(job.id, missed_from, RunOutcome(
                "missed", now, error="missed while schedctl was down; caught up at start-up"),
                owner=self.owner)
            if job.next_run_time is not None:
                self.store.request_run(job.id, now)
            _logger.info("%s: runs were missed while schedctl was down; running it once now", job.id)

    def _run_boot_jobs(self, now: datetime) -> None:
        """Start each ``@reboot`` job that has not run since the machine booted."""
        boot_id = current_boot_id()
        if boot_id is None:
            return
        for job in self.store.get_all_jobs():
            # Several nodes: each runs it once after each boot of its own host.
            key = job.id if self.node is None else f"{job.id}@{self.node.node_id}"
            if isinstance(job.trigger, BootTrigger) and self.history.claim_boot_run(key, boot_id):
                self.store.request_run(job.id, now)
                _logger.info("%s: first start since boot; running it now", job.id)

    def _add_new_executors(self, jobfile: Jobfile) -> None:
        for name, executor in build_executors(jobfile).items():
            if name not in self.scheduler._executors:
                self.scheduler.add_executor(executor, name)


def _wait_idle(executors: list[BaseExecutor], timeout: float) -> bool:
    """Wait for every executor to have no running job, sharing one deadline."""
    deadline = SystemClock().monotonic() + timeout
    for executor in executors:
        remaining = max(deadline - SystemClock().monotonic(), 0)
        if not executor.wait_idle(remaining):
            return False
    return True


def _missed(job: Job, now: datetime) -> bool:
    """Whether the job's pending run is too late to run at all; a run still within its
    misfire grace time simply runs late, and needs no catching up."""
    assert job.next_run_time is not None
    grace = job.misfire_grace_time
    return now - job.next_run_time > timedelta(seconds=grace if grace is not None else 0)
