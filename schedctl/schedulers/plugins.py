"""Executors and job stores: adding them to a scheduler and taking them away.

An alias names each one; jobs refer to their store and executor by alias, so
adding a second plugin under a taken alias is an error, never a replacement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from schedctl.events import (
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    SchedulerEvent,
)
from schedctl.executors.base import BaseExecutor
from schedctl.jobstores.base import BaseJobStore
from schedctl.schedulers import config as cfg
from schedctl.schedulers.outage import MemorySchedule
from schedctl.schedulers.states import STATE_STOPPED

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler


class PluginAPI:
    """Mixed into BaseScheduler; relies on its plugin tables, locks, state and events."""

    _executors: dict[str, BaseExecutor]
    _executors_lock: threading.RLock
    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: threading.RLock
    _memories: dict[str, MemorySchedule]
    _logger: logging.Logger
    state: int

    if TYPE_CHECKING:

        def _dispatch_event(self, event: SchedulerEvent) -> None: ...
        def wakeup(self) -> None: ...

    def add_executor(
        self, executor: BaseExecutor | str, alias: str = "default", **options: Any
    ) -> None:
        """Add an executor instance, or one made from a type name ('threadpool', 'processpool')."""
        if isinstance(executor, str):
            executor = cfg.create_plugin(
                "executor", alias, {"type": executor, **options}, cfg.EXECUTOR_TYPES
            )
        if not isinstance(executor, BaseExecutor):
            raise TypeError(f"executor: expected an executor, got {executor!r}")
        with self._executors_lock:
            if alias in self._executors:
                raise ValueError(f"executor: an executor by the alias {alias!r} already exists")
            self._executors[alias] = executor
            if self.state != STATE_STOPPED:
                executor.start(cast("BaseScheduler", self), alias)
        self._dispatch_event(SchedulerEvent(code=EVENT_EXECUTOR_ADDED, alias=alias))

    def remove_executor(self, alias: str, shutdown: bool = True) -> None:
        with self._executors_lock:
            executor = self._lookup("executor", self._executors, alias)
            del self._executors[alias]
        if shutdown:
            executor.shutdown()
        self._dispatch_event(SchedulerEvent(code=EVENT_EXECUTOR_REMOVED, alias=alias))

    def add_jobstore(
        self, jobstore: BaseJobStore | str, alias: str = "default", **options: Any
    ) -> None:
        """Add a job store instance, or one made from a type name ('memory', 'sqlite')."""
        if isinstance(jobstore, str):
            jobstore = cfg.create_plugin(
                "jobstore", alias, {"type": jobstore, **options}, cfg.JOBSTORE_TYPES
            )
        if not isinstance(jobstore, BaseJobStore):
            raise TypeError(f"jobstore: expected a job store, got {jobstore!r}")
        with self._jobstores_lock:
            if alias in self._jobstores:
                raise ValueError(f"jobstore: a job store by the alias {alias!r} already exists")
            self._jobstores[alias] = jobstore
            if self.state != STATE_STOPPED:
                jobstore.start(cast("BaseScheduler", self), alias)
        self._dispatch_event(SchedulerEvent(code=EVENT_JOBSTORE_ADDED, alias=alias))
        if self.state != STATE_STOPPED:
            self.wakeup()

    def remove_jobstore(self, alias: str, shutdown: bool = True) -> None:
        with self._jobstores_lock:
            store = self._lookup("jobstore", self._jobstores, alias)
            del self._jobstores[alias]
            self._memories.pop(alias, None)
        if shutdown:
            store.shutdown()
        self._dispatch_event(SchedulerEvent(code=EVENT_JOBSTORE_REMOVED, alias=alias))

    @staticmethod
    def _lookup(kind: str, plugins: Mapping[str, Any], alias: str) -> Any:
        try:
            return plugins[alias]
        except KeyError:
            known = ", ".join(sorted(plugins)) or "none"
            raise KeyError(f"{kind}: no {kind} by the alias {alias!r} (known: {known})") from None
