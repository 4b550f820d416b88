"""The only place that reads the time or blocks on it.

Everything in the engine asks a :class:`Clock` for ``now()`` and waits through
``wait()``, so tests can substitute :class:`FakeClock` and drive a week of
schedule in milliseconds instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

UTC = UTC


class Clock(Protocol):
    """What the scheduler needs from time: the present, and a way to sleep until a deadline."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        """Block until ``deadline`` (forever if None) or until ``wake`` is set.

        Returns True when woken through ``wake``, which is cleared before returning.
        """
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for measuring durations."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        timeout = None if deadline is None else max((deadline - self.now()).total_seconds(), 0.0)
        woken = wake.wait(timeout)
        wake.clear()
        return woken

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to, for tests.

    ``wait`` never blocks on a deadline: it jumps the clock forward to it, as if
    the sleep had happened, unless a wake-up is already pending.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
        self._lock = threading.Lock()
        self._mono = 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (forwards or backwards, like a wall-clock step)."""
        if when.tzinfo is None:
            raise ValueError(f"when must be timezone-aware, got {when!r}")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move forward by ``seconds`` and return the new time."""
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
            return self._now

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        if wake.is_set():
            wake.clear()
            return True
        if deadline is None:
            woken = wake.wait()
            wake.clear()
            return woken
        with self._lock:
            if deadline > self._now:
                self._mono += (deadline - self._now).total_seconds()
                self._now = deadline
        return False

    def monotonic(self) -> float:
        with self._lock:
            return self._mono


def lease_monotonic() -> float:
    """The system-wide CLOCK_MONOTONIC, never faked: lease deadlines are handed to the
    shim processes, which compare them with the same kernel clock."""
    return time.monotonic()
