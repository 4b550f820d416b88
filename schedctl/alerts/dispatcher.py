"""The one alert thread: queue alerts, send them one after the other, log what fails.

Alerts go out from one worker thread (:class:`AlertDispatcher`), so a slow mail server
never delays a job, and an alert that fails is logged on ``schedctl.alerts`` and
dropped: it never blocks or stops the scheduler.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable

from schedctl.alerts.context import AlertContext
from schedctl.alerts.spec import AlertError, AlertSpec

__all__ = ["QUEUE_SIZE", "AlertDispatcher", "send_alert"]

#: Alerts waiting to be sent; beyond this a failure storm drops alerts instead of eating memory.
QUEUE_SIZE = 1000

_log = logging.getLogger("schedctl.alerts")


def send_alert(spec: AlertSpec, context: AlertContext) -> None:
    """Send one alert now, in this thread; raise :class:`AlertError` saying why it failed."""
    spec.send(context)


class AlertDispatcher:
    """Sends alerts from one daemon thread, so that callers never wait and never see an error.

    ``dispatch`` queues (dropping, with an error in the log, when ``max_pending`` are
    already waiting); :meth:`close` sends what is left, for at most its timeout.
    """

    def __init__(self, max_pending: int = QUEUE_SIZE) -> None:
        self._max_pending = max_pending
        self._pending: collections.deque[tuple[AlertSpec, AlertContext]] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Alerts queued and not yet being sent."""
        with self._changed:
            return len(self._pending)

    def dispatch(self, specs: Iterable[AlertSpec], context: AlertContext) -> None:
        """Queue each alert of ``specs`` about ``context``; returns at once."""
        with self._changed:
            for spec in specs:
                if self._closed or len(self._pending) >= self._max_pending:
                    why = (
                        "alerts are closed" if self._closed else f"{len(self._pending)} are waiting"
                    )
                    _log.error(
                        "dropped the %s %s for job %r: %s",
                        context.kind,
                        spec.describe(),
                        context.job_id,
                        why,
                    )
                    continue
                self._pending.append((spec, context))
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
            left = len(self._pending)
            self._pending.clear()
        _log.error("%d alert(s) not sent: gave up waiting for the one being sent", left + 1)
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
                spec, context = self._pending.popleft()
            self._send(spec, context)

    @staticmethod
    def _send(spec: AlertSpec, context: AlertContext) -> None:
        try:
            send_alert(spec, context)
        except AlertError as exc:
            _log.error("%s alert for job %r failed: %s", context.kind, context.job_id, exc)
        except Exception:  # noqa: BLE001 - a bug must not end the thread: later alerts still go out
            _log.exception(
                "%s alert for job %r: unexpected error in %s",
                context.kind,
                context.job_id,
                spec.describe(),
            )
        else:
            _log.info("%s alert for job %r sent: %s", context.kind, context.job_id, spec.describe())
