"""``/healthz``: whether the scheduler loop comes round when it should and the store answers.

:class:`LoopWatch` is the clock the scheduler is given: every pass of its loop ends in
``wait(deadline)``, so the watch learns by when the next pass must begin, and while a
pass runs, by when it must end. :class:`StoreProbe` asks the store a cheap question in
a thread of its own, so a hung database makes the answer 503, never a hung request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from schedctl.clock import Clock
from schedctl.errors import StoreError

#: How late the loop may come round (or how long one pass may take) before it is unhealthy.
#: A pass waits on a busy SQLite file for up to 10 s; a large catch-up takes seconds too.
LOOP_ALLOWANCE_SECONDS = 30.0
#: How long ``/healthz`` waits for the store's answer.
PROBE_SECONDS = 2.0


class LoopWatch:
    """A clock that passes everything to ``clock`` and notes when the loop is due back."""

    def __init__(self, clock: Clock, allowance: float = LOOP_ALLOWANCE_SECONDS) -> None:
        self._clock = clock
        self._allowance = allowance
        self._due = clock.monotonic() + allowance  # the first pass, after start-up
        self._waiting_until: datetime | None = None

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        if deadline is None:  # the loop sleeps until woken: nothing is due
            self._due = float("inf")
        else:
            ahead = max((deadline - self._clock.now()).total_seconds(), 0.0)
            self._due = self._clock.monotonic() + ahead + self._allowance
        try:
            return self._clock.wait(deadline, wake)
        finally:
            self._due = self._clock.monotonic() + self._allowance  # a pass begins

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)  # a node's database time has more to offer

    def problem(self) -> str | None:
        """Why the loop is unhealthy, or None."""
        late = self._clock.monotonic() - self._due
        if late <= 0:
            return None
        return (f"the scheduler loop has not come round: {late + self._allowance:.0f} s past "
                f"its deadline (allowed: {self._allowance:g} s)")


class StoreProbe:
    """Asks ``check`` in a thread, waiting at most ``timeout``; one question at a time."""

    def __init__(self, check: Callable[[], str | None], timeout: float = PROBE_SECONDS) -> None:
        self._check = check
        self._timeout = timeout
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._answer: str | None = None

    def problem(self) -> str | None:
        """What is wrong with the store, or None when it answered in time."""
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = self._thread = threading.Thread(
                    target=self._ask, name="schedctl-healthz", daemon=True)
                thread.start()
        thread.join(self._timeout)
        if thread.is_alive():
            return f"the state store did not answer within {self._timeout:g} s"
        return self._answer

    def _ask(self) -> None:
        try:
            self._answer = self._check()
        except StoreError as exc:
            self._answer = f"the state store fails: {exc}"
        except Exception as exc:  # noqa: BLE001 - said in the answer, never raised in a thread
            self._answer = f"the state store fails: {type(exc).__name__}: {exc}"


def store_check(store: Any, wait: float = PROBE_SECONDS) -> Callable[[], str | None]:
    """The question for a store: count its jobs through the scheduler's own connection."""

    def check() -> str | None:
        if store.try_count_jobs(wait=wait) is None:
            return f"the state store is busy: a query has held it for over {wait:g} s"
        return None

    return check
