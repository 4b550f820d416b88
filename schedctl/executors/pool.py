"""Thread and process pool executors: threads on a queue of calls, processes on
concurrent.futures."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from schedctl.clock import SystemClock
from schedctl.executors.base import BaseExecutor, JobCall, run_job
from schedctl.executors.workers import WorkerPool
from schedctl.job import Job

if TYPE_CHECKING:  # imported when a process pool is made: multiprocessing costs 1.6 MB of RSS
    import concurrent.futures


def _positive_int(name: str, value: Any) -> int:
    """Accept ints and int-like text (config files give strings)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive integer, got {value!r}") from None
    if number < 1 or isinstance(value, bool):
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return number


class _RunSlot:
    """Which thread runs a submitted job, so shutdown from inside a job skips joining itself."""

    __slots__ = ("thread",)

    def __init__(self) -> None:
        self.thread: int | None = None


class BasePoolExecutor(BaseExecutor):
    """Shared plumbing: submit to a concurrent.futures pool and report when a future ends."""

    def __init__(self, max_workers: int) -> None:
        super().__init__()
        self._max_workers = max_workers
        self._pool: concurrent.futures.Executor | None = None
        self._futures: dict[concurrent.futures.Future[Any], _RunSlot] = {}
        self._futures_lock = threading.Lock()

    def free_slots(self) -> int | None:
        return max(self._max_workers - self.running_total(), 0)

    def _make_pool(self) -> concurrent.futures.Executor:
        raise NotImplementedError

    def _submit(self, job: Job, slot: _RunSlot, fn: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            self._pool = self._make_pool()
        # Registered under the lock before the job can look: a job that calls shutdown()
        # at once must find its own slot, or it would try to join its own thread.
        with self._futures_lock:
            future = self._pool.submit(fn, *args)
            self._futures[future] = slot
        future.add_done_callback(lambda f: self._on_done(job.id, f))

    def _on_done(self, job_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self._futures_lock:
            self._futures.pop(future, None)
        if future.cancelled():
            self._release(job_id)
            return
        exc = future.exception()
        if exc is not None:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, future.result())

    def shutdown(self, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        me = threading.get_ident()
        with self._futures_lock:
            inside_job = any(slot.thread == me for slot in self._futures.values())
            others = [f for f, slot in self._futures.items() if slot.thread != me]
        if wait and inside_job:
            # Joining the pool would join this very thread ("cannot join current
            # thread"): wait for the other runs, and let this one finish on its own.
            pool.shutdown(wait=False)
            import concurrent.futures

            concurrent.futures.wait(others)
            return
        pool.shutdown(wait=wait)


class ThreadPoolExecutor(BaseExecutor):
    """Runs jobs in threads of this process. The default executor.

    The threads are a :class:`~schedctl.executors.workers.WorkerPool`: a run is one
    call on a queue, with no Future behind it. ``pool_kwargs`` takes the standard
    thread pool's ``thread_name_prefix``, ``initializer`` and ``initargs``.
    """

    def __init__(self, max_workers: int = 10, pool_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._max_workers = _positive_int("max_workers", max_workers)
        self._pool_kwargs = {"thread_name_prefix": "schedctl-job", **(pool_kwargs or {})}
        self._pool: WorkerPool | None = None
        # The runs submitted and not yet ended, so shutdown from inside a job skips itself.
        self._slots: set[_RunSlot] = set()
        self._slots_done = threading.Condition(threading.Lock())
        self._slots_awaited = False  # a job's shutdown waits for the others: notify it

    def free_slots(self) -> int | None:
        return max(self._max_workers - self.running_total(), 0)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if self._pool is None:
            self._pool = WorkerPool(self._max_workers, **self._pool_kwargs)
        assert self._scheduler is not None
        slot = _RunSlot()
        job_id, func, call = job.id, job.func, JobCall(job)
        clock, logger_name = self._scheduler._clock, self._logger.name

        def run() -> None:
            slot.thread = threading.get_ident()
            try:
                events = run_job(func, call, run_times, clock, logger_name)
            except BaseException as exc:
                fail(exc)
            else:
                self._end(slot)
                self._run_job_success(job_id, events)

        def fail(exc: BaseException) -> None:
            self._end(slot)
            self._run_job_error(job_id, exc, exc.__traceback__)

        # Listed before it can run: a job that calls shutdown() at once finds its own slot.
        with self._slots_done:
            self._slots.add(slot)
        try:
            self._pool.submit(run, fail)
        except BaseException:
            self._end(slot)
            raise

    def _end(self, slot: _RunSlot) -> None:
        with self._slots_done:
            self._slots.discard(slot)
            if self._slots_awaited:
                self._slots_done.notify_all()

    def shutdown(self, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        me = threading.get_ident()
        with self._slots_done:
            inside_job = any(slot.thread == me for slot in self._slots)
            if wait and inside_job:
                # Joining the pool would join this very thread: wait for the other runs,
                # and let this one finish on its own.
                pool.shutdown(wait=False)
                self._slots_awaited = True
                self._slots_done.wait_for(lambda: all(s.thread == me for s in self._slots))
                return
        pool.shutdown(wait=wait)


class ProcessPoolExecutor(BasePoolExecutor):
    """Runs jobs in worker processes: for CPU-bound Python jobs, or to isolate them.

    The function travels by its ``module:qualname`` reference, so jobs need
    module-level functions and picklable arguments and return values. A pool whose
    worker died is replaced, so one crashed job does not break the executor.
    """

    def __init__(self, max_workers: int = 10, pool_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(_positive_int("max_workers", max_workers))
        self._pool_kwargs = dict(pool_kwargs or {})

    def _make_pool(self) -> concurrent.futures.Executor:
        import concurrent.futures
        import multiprocessing

        kwargs = dict(self._pool_kwargs)
        if "mp_context" not in kwargs and sys.platform.startswith("linux"):
            # fork() from a threaded process can deadlock the child; forkserver cannot
            kwargs["mp_context"] = multiprocessing.get_context("forkserver")
        return concurrent.futures.ProcessPoolExecutor(self._max_workers, **kwargs)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        func: Any = job.func_ref if job.func_ref is not None else job.func
        args = (func, JobCall(job), run_times, SystemClock(), self._logger.name)
        from concurrent.futures.process import BrokenProcessPool

        try:
            self._submit(job, _RunSlot(), run_job, *args)
        except BrokenProcessPool:
            self._logger.warning("Process pool is broken (a worker died); replacing it")
            self._pool = None
            self._submit(job, _RunSlot(), run_job, *args)
