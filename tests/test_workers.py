"""The thread pool under ThreadPoolExecutor: order, thread reuse and names, shutdown, breakage."""

from __future__ import annotations

import threading
from concurrent.futures.thread import BrokenThreadPool

import pytest

from schedctl.events import EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
from schedctl.executors.pool import ThreadPoolExecutor
from schedctl.executors.workers import WorkerPool
from schedctl.schedulers.background import BackgroundScheduler


def never(exc: BaseException) -> None:
    raise AssertionError(f"a call failed: {exc!r}")


def test_calls_run_in_named_threads_reused_up_to_the_limit() -> None:
    pool = WorkerPool(3, thread_name_prefix="w")
    names: list[str] = []
    lock = threading.Lock()
    gate = threading.Event()

    def call() -> None:
        gate.wait(10)
        with lock:
            names.append(threading.current_thread().name)

    for _ in range(9):
        pool.submit(call, never)
    gate.set()
    pool.shutdown(wait=True)
    assert len(names) == 9
    assert set(names) <= {"w_0", "w_1", "w_2"}


def test_one_thread_runs_calls_in_the_order_they_came() -> None:
    pool = WorkerPool(1)
    seen: list[int] = []
    for i in range(50):
        pool.submit(lambda i=i: seen.append(i), never)
    pool.shutdown(wait=True)
    assert seen == list(range(50))


def test_shutdown_runs_what_was_queued_then_refuses_more() -> None:
    pool = WorkerPool(2)
    gate, ran = threading.Event(), []
    pool.submit(lambda: gate.wait(10), never)
    for i in range(5):
        pool.submit(lambda i=i: ran.append(i), never)
    gate.set()
    pool.shutdown(wait=True)
    assert sorted(ran) == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None, never)


def test_a_raising_call_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(1)
    after = threading.Event()
    pool.submit(lambda: 1 / 0, never)
    pool.submit(after.set, never)
    assert after.wait(10)
    pool.shutdown(wait=True)
    assert "ZeroDivisionError" in caplog.text


def test_a_failing_initializer_breaks_the_pool_and_fails_what_was_queued() -> None:
    gate = threading.Event()

    def initializer() -> None:
        gate.wait(10)  # let calls queue up behind the first thread's start
        raise OSError("no")

    pool = WorkerPool(1, initializer=initializer)
    failures: list[BaseException] = []
    failed = threading.Event()

    def fail(exc: BaseException) -> None:
        failures.append(exc)
        if len(failures) == 3:
            failed.set()

    for _ in range(3):
        pool.submit(lambda: None, fail)
    gate.set()
    assert failed.wait(10)
    assert all(isinstance(exc, BrokenThreadPool) for exc in failures)
    with pytest.raises(BrokenThreadPool):
        pool.submit(lambda: None, never)
    pool.shutdown(wait=True)


def test_executor_pool_kwargs_reach_the_threads(event_log) -> None:
    seen: list[str] = []
    initialized = threading.Event()
    executor = ThreadPoolExecutor(2, pool_kwargs={
        "thread_name_prefix": "custom", "initializer": initialized.set,
    })
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": executor})
    scheduler.add_listener(event_log)
    scheduler.start()
    try:
        scheduler.add_job(lambda: seen.append(threading.current_thread().name), id="where")
        event_log.wait_for(EVENT_JOB_EXECUTED)
    finally:
        scheduler.shutdown()
    assert initialized.is_set()
    assert seen and seen[0].startswith("custom_")


def test_a_broken_pool_logs_the_run_and_frees_the_job(event_log, caplog) -> None:
    def initializer() -> None:
        raise OSError("no thread for you")

    executor = ThreadPoolExecutor(1, pool_kwargs={"initializer": initializer})
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": executor})
    scheduler.add_listener(event_log)
    scheduler.start()
    try:
        scheduler.add_job(lambda: None, id="doomed")
        assert event_log.wait_for(EVENT_JOB_SUBMITTED)
        assert executor.wait_idle(10)  # the run's instance was released, not leaked
    finally:
        scheduler.shutdown()
    assert not event_log.of(EVENT_JOB_EXECUTED)
    assert "Error running job doomed" in caplog.text
