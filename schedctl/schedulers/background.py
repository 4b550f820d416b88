"""BackgroundScheduler: the loop runs in a daemon thread of its own."""

from __future__ import annotations

import threading

from schedctl.schedulers.base import BaseScheduler


class BackgroundScheduler(BaseScheduler):
    """For applications that do other things; ``start()`` returns at once."""

    _thread: threading.Thread | None = None

    def start(self, paused: bool = False) -> None:
        self._wake.clear()
        super().start(paused)
        self._thread = threading.Thread(
            target=self._main_loop, name="schedctl-scheduler", daemon=True
        )
        self._thread.start()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        thread, self._thread = self._thread, None
        # From a listener or job on the loop's own thread, joining would wait forever.
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def wakeup(self) -> None:
        self._wake.set()
