"""Worker threads taking calls from one queue: what the thread pool executor needs, and no more.

``concurrent.futures.ThreadPoolExecutor`` builds a Future for every call (a Condition
on an RLock, a callback list, a state machine) that the executor only reads once to
learn that the call ended; in a burst of due jobs that was a third of the scheduler
thread's time. Here a call is a plain callable that reports its own end, taken from a
``queue.SimpleQueue`` (C code, no lock in Python), with the callable that reports it
failed when the pool cannot run it. Threads start as work arrives, up to
``max_workers``, and are named ``<prefix>_<n>`` as the standard pool names them.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures.thread import BrokenThreadPool
from typing import Any

_log = logging.getLogger("schedctl.executors")
_Item = tuple[Callable[[], None], Callable[[BaseException], None]]

#: Pools whose threads the interpreter waits for at exit, as it does for the standard
#: pool's: the calls already queued run to their end.
_LIVE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


class WorkerPool:
    """Up to ``max_workers`` threads running submitted calls in the order they came.

    ``initializer`` and ``thread_name_prefix`` are the standard pool's keywords; an
    initializer that raises breaks the pool (``BrokenThreadPool``), as it does there.
    """

    def __init__(
        self,
        max_workers: int,
        thread_name_prefix: str = "",
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix or f"WorkerPool-{id(self):x}"
        self._initializer, self._initargs = initializer, initargs
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._idle = 0  # threads waiting for a call (a count under the lock: a Semaphore is
        self._lock = threading.Lock()  # Python code, and this runs twice a call)
        self._listed = threading.Condition(self._lock)  # a thread that was starting is listed
        self._threads: list[threading.Thread] = []  # started
        self._count = 0  # started or starting
        self._starting = False
        self._numbers = itertools.count()
        self._shutdown = False
        self._broken: str | None = None
        _LIVE.add(self)

    def submit(self, call: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        """Queue ``call``, which must not raise (what it raises is logged and dropped);
        ``fail`` is called instead if the pool breaks before running it."""
        with self._lock:
            if self._broken is not None:
                raise BrokenThreadPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._queue.put((call, fail))
            # An idle thread takes it; else a new one, while there are fewer than allowed.
            if self._idle:
                self._idle -= 1
                return
            thread = self._reserve_thread()
        if thread is not None:
            self._start(thread)

    def _reserve_thread(self) -> threading.Thread | None:
        """A thread to start (the caller holds the lock), unless one is starting already: that
        one starts the next itself if it finds calls waiting. Thread.start waits for the new
        thread to run; in a burst, 20 such waits in the scheduler's thread took 15 ms of the
        first pass, now the workers take them in turn."""
        if self._starting or self._shutdown or self._count >= self._max_workers:
            return None
        self._starting = True
        self._count += 1
        name = f"{self._prefix}_{next(self._numbers)}"
        return threading.Thread(target=self._work, name=name, daemon=True)

    def _start(self, thread: threading.Thread) -> None:
        thread.start()
        with self._lock:
            self._threads.append(thread)
            self._listed.notify_all()

    def shutdown(self, wait: bool = True) -> None:
        """Take no more calls; the queued ones still run. With ``wait``, return when they have."""
        with self._lock:
            self._shutdown = True
            self._queue.put(None)  # each thread puts it back for the next as it leaves
        if not wait:
            return
        with self._listed:  # no thread starts after shutdown; wait for those starting
            self._listed.wait_for(lambda: len(self._threads) >= self._count)
            threads = list(self._threads)
        me = threading.current_thread()
        for thread in threads:
            if thread is not me:
                thread.join()

    def _work(self) -> None:
        with self._lock:
            self._starting = False
            more = self._queue.qsize() > 1 and not self._idle  # one of them is this thread's
            thread = self._reserve_thread() if more else None
        if thread is not None:
            self._start(thread)
        if self._initializer is not None and not self._initialize():
            return
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)
                return
            try:
                item[0]()
            except BaseException:  # a call reports its own errors; this is a last resort
                _log.exception("Error in a worker thread's call")
            del item
            with self._lock:
                self._idle += 1

    def _initialize(self) -> bool:
        try:
            assert self._initializer is not None
            self._initializer(*self._initargs)
            return True
        except BaseException:
            _log.critical("Exception in a worker thread's initializer:", exc_info=True)
        with self._lock:
            self._broken = "a thread initializer failed, the thread pool is not usable anymore"
        # What was queued will never run: say so to each caller, as the standard pool does.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                self._queue.put(None)
                return False
            item[1](BrokenThreadPool(self._broken))


@atexit.register
def _join_at_exit() -> None:
    for pool in list(_LIVE):
        pool.shutdown(wait=True)
