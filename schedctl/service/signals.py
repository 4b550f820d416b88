"""Signals and the control thread of ``schedctl run``: heartbeat, status, reload and stop.

Signal handlers only queue the signal number (``SimpleQueue.put`` is safe in a
handler); the control thread takes it from there to stop gracefully (SIGTERM,
SIGINT) or reload the jobfile (SIGHUP, or a change to the file that the watch saw),
and beats the heartbeat that ``schedctl status`` and the systemd watchdog read.
Each turn takes every signal queued meanwhile: a stop wins over everything, and
SIGHUPs and changes to the file are collected into one reload at most once a
second (:class:`~schedctl.service.reload.ReloadRequests`), so a storm of them
never holds up a SIGTERM nor the watchdog.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from typing import TYPE_CHECKING

from schedctl.alerts.dispatcher import AlertDispatcher
from schedctl.clock import Clock, SystemClock
from schedctl.commands.jobrunner import STOP_RETRIES
from schedctl.commands.processes import DEFAULT_REGISTRY
from schedctl.errors import StoreError
from schedctl.executors.base import BaseExecutor
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.schedulers.blocking import BlockingScheduler
from schedctl.service.filewatch import FileWatch
from schedctl.service.reload import ReloadRequests
from schedctl.service.runlog import RunLog
from schedctl.service.stopping import wait_for_jobs
from schedctl.service.systemd import Notifier, watchdog_interval
from schedctl.state.history import RunHistory
from schedctl.state.sync import SyncReport

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode
    from schedctl.service.startup import ServeOptions

HEARTBEAT_SECONDS = 10.0
#: How long job threads may take to record their end once their commands were killed.
RECORD_GRACE_SECONDS = 5.0
#: How long alerts still queued at shutdown may take to go out.
ALERT_DRAIN_SECONDS = 10.0

_logger = logging.getLogger("schedctl.run")


class ControlLoop:
    """Mixed into Service: the control thread, which answers signals and beats the heartbeat."""

    options: ServeOptions
    store: SQLJobStore
    clock: Clock
    node: ClusterNode | None
    history: RunHistory
    runlog: RunLog
    notifier: Notifier
    scheduler: BlockingScheduler
    alerts: AlertDispatcher
    jobfile_watch: FileWatch
    _signals: queue.SimpleQueue[int]
    _stopped: threading.Event

    if TYPE_CHECKING:

        def reload(self, reason: str = "SIGHUP") -> SyncReport | None: ...
        def _watch_state_file(self) -> None: ...

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda number, frame: self._signals.put(number))

    def _control_loop(self) -> None:
        self.notifier.ready(self._status_line())
        beat = min(HEARTBEAT_SECONDS, watchdog_interval() or HEARTBEAT_SECONDS)
        clock = SystemClock()
        next_beat = clock.monotonic() + beat
        asked = ReloadRequests()
        while True:
            now = clock.monotonic()
            if now >= next_beat:  # due whatever arrives meanwhile: a storm never starves it
                self._heartbeat()
                next_beat = now + beat
            wake = min(next_beat, self.jobfile_watch.next_poll, asked.due_at)
            received = self._take_signals(wake - now)
            stops = [signum for signum in received if signum != signal.SIGHUP]
            if stops:
                _logger.info("Received %s: stopping", signal.Signals(stops[0]).name)
                for again in stops[1:]:  # a second Ctrl-C already: the stop does not wait
                    self._signals.put(again)
                self.stop()
                return
            asked.hangups += received.count(signal.SIGHUP)
            change = self.jobfile_watch.check(clock.monotonic())
            if change:
                asked.changes.append(change)
            reason = asked.take(clock.monotonic())
            if reason:
                self.reload(reason)
                asked.done(clock.monotonic())

    def _take_signals(self, timeout: float) -> list[int]:
        """What arrived within ``timeout`` seconds, and everything queued behind it."""
        try:
            received = [self._signals.get(timeout=max(timeout, 0))]
        except queue.Empty:
            return []
        while True:
            try:
                received.append(self._signals.get_nowait())
            except queue.Empty:
                return received

    def _heartbeat(self) -> None:
        try:
            if self.node is None:  # a node beats its own, every third of a lease
                self.history.heartbeat(at=self.clock.now())
        except StoreError as exc:  # already reported by the scheduler, which runs on from memory
            _logger.debug("Could not write the heartbeat to the state file: %s", exc)
        except Exception:
            _logger.exception("Could not write the heartbeat to the state file")
        self.runlog.flush()  # run records held while the state file failed, once it works
        try:
            self.history.prune_deferred()  # off the runs' path: see RunHistory._prune_due
        except StoreError as exc:
            _logger.debug("Could not prune the history: %s", exc)
        except Exception:
            _logger.exception("Could not prune the history")
        self._watch_state_file()  # removed, replaced or truncated under the scheduler?
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
        if not wait_for_jobs(executors, timeout, self._signals, DEFAULT_REGISTRY):
            # Each command gets its own kill_grace between SIGTERM and SIGKILL.
            DEFAULT_REGISTRY.terminate_all(wait=True)
            _wait_idle(executors, RECORD_GRACE_SECONDS)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.alerts.close(ALERT_DRAIN_SECONDS)  # alerts of the last runs still go out
        self._stopped.set()


def _wait_idle(executors: list[BaseExecutor], timeout: float) -> bool:
    """Wait for every executor to have no running job, sharing one deadline."""
    deadline = SystemClock().monotonic() + timeout
    for executor in executors:
        remaining = max(deadline - SystemClock().monotonic(), 0)
        if not executor.wait_idle(remaining):
            return False
    return True
