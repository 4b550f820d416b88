"""The one alert thread: queue alerts and pings, send them one after the other, count and
log what fails.

Alerts and monitoring pings go out from one worker thread (:class:`AlertDispatcher`),
so a slow mail server or monitor never delays a job, and one that fails is logged on
``schedctl.alerts``, counted in :class:`AlertCounts`, and dropped: it never blocks or stops
the scheduler. One thread also keeps a job's pings in order: its start before its end.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from schedctl.alerts.context import AlertContext
from schedctl.alerts.spec import AlertError, AlertSpec

__all__ = ["QUEUE_SIZE", "AlertCounts", "AlertDelivery", "AlertDispatcher", "Delivery",
           "send_alert"]

#: Alerts waiting to be sent; beyond this a failure storm drops alerts instead of eating memory.
QUEUE_SIZE = 1000

#: What became of an alert or ping, as ``schedctl_alerts_total{result}`` says it.
Result = Literal["sent", "failed", "dropped"]

_log = logging.getLogger("schedctl.alerts")


def send_alert(spec: AlertSpec, context: AlertContext) -> None:
    """Send one alert now, in this thread; raise :class:`AlertError` saying why it failed."""
    spec.send(context)


class Delivery(Protocol):
    """One thing for the alert thread to send: an alert about a run, or a monitoring ping."""

    @property
    def kind(self) -> str:
        """``failure``, ``recovery``, ``ping``: the ``kind`` label of its count."""

    @property
    def job_id(self) -> str: ...

    def describe(self) -> str:
        """How logs name where it goes, without anything secret."""

    def send(self) -> None:
        """Send it now, in this thread; raise :class:`AlertError` saying why it failed."""


@dataclass(frozen=True)
class AlertDelivery:
    """An alert (``on_failure``, ``on_recovery``) about one run."""

    spec: AlertSpec
    context: AlertContext

    @property
    def kind(self) -> str:
        return self.context.kind

    @property
    def job_id(self) -> str:
        return self.context.job_id

    def describe(self) -> str:
        return self.spec.describe()

    def send(self) -> None:
        send_alert(self.spec, self.context)


class AlertCounts:
    """How many alerts and pings were sent, failed or dropped, by kind, since start-up:
    what ``schedctl_alerts_total{kind,result}`` exports. Safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def add(self, kind: str, result: Result) -> None:
        with self._lock:
            self._counts[kind, result] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """``{(kind, result): count}`` for every pair counted at least once."""
        with self._lock:
            return dict(self._counts)


class AlertDispatcher:
    """Sends alerts and pings from one daemon thread, so that callers never wait and never
    see an error.

    ``dispatch`` and ``submit`` queue (dropping, with an error in the log, when
    ``max_pending`` are already waiting); :meth:`close` sends what is left, for at most
    its timeout. ``counts`` says what became of each.
    """

    def __init__(self, max_pending: int = QUEUE_SIZE) -> None:
        self._max_pending = max_pending
        self._pending: collections.deque[Delivery] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.counts = AlertCounts()

    @property
    def pending(self) -> int:
        """Alerts queued and not yet being sent."""
        with self._changed:
            return len(self._pending)

    def dispatch(self, specs: Iterable[AlertSpec], context: AlertContext) -> None:
        """Queue each alert of ``specs`` about ``context``; returns at once."""
        for spec in specs:
            self.submit(AlertDelivery(spec, context))

    def submit(self, delivery: Delivery) -> None:
        """Queue one alert or ping; returns at once."""
        with self._changed:
            if self._closed or len(self._pending) >= self._max_pending:
                why = "alerts are closed" if self._closed else f"{len(self._pending)} are waiting"
                _log.error("dropped the %s %s for job %r: %s", delivery.kind,
                           delivery.describe(), delivery.job_id, why)
                self.counts.add(delivery.kind, "dropped")
                return
            self._pending.append(delivery)
            self._start()
            self._changed.notify()

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, waiting at most ``timeout`` seconds; True if all went out."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if not thread.is_alive():
            return True
        with self._changed:
            left = list(self._pending)
            self._pending.clear()
        for delivery in left:
            self.counts.add(delivery.kind, "dropped")
        _log.error("%d alert(s) not sent: gave up waiting for the one being sent", len(left) + 1)
        return False

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="schedctl-alerts", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                delivery = self._pending.popleft()
            self.counts.add(delivery.kind, "sent" if _send(delivery) else "failed")


def _send(delivery: Delivery) -> bool:
    """Send, log what happened; True if it went out."""
    try:
        delivery.send()
    except AlertError as exc:
        _log.error("%s alert for job %r failed: %s", delivery.kind, delivery.job_id, exc)
    except Exception:  # noqa: BLE001 - a bug must not end the thread: later alerts still go out
        _log.exception("%s alert for job %r: unexpected error in %s", delivery.kind,
                       delivery.job_id, delivery.describe())
    else:
        _log.info("%s alert for job %r sent: %s", delivery.kind, delivery.job_id,
                  delivery.describe())
        return True
    return False
