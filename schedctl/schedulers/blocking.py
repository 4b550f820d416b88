"""BlockingScheduler: the loop runs in the thread that calls ``start()``."""

from __future__ import annotations

from schedctl.schedulers.base import STATE_STOPPED, BaseScheduler


class BlockingScheduler(BaseScheduler):
    """For a process whose only job is scheduling; ``start()`` returns after ``shutdown()``."""

    def start(self, paused: bool = False) -> None:
        self._wake.clear()
        super().start(paused)
        self._main_loop()
        # shutdown() may have been called from a job or a signal-handling thread: return
        # only once it has finished, so the caller can exit without cutting it short.
        self._stopped.wait()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._wake.set()

    def wakeup(self) -> None:
        self._wake.set()

    def _main_loop(self) -> None:
        try:
            super()._main_loop()
        finally:
            if self.state != STATE_STOPPED:
                self.shutdown(wait=False)
