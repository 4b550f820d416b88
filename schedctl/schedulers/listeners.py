"""Listeners: who hears the scheduler's events, and handing each event to them.

A listener that raises is logged and skipped, so one bad callback cannot stop
the loop or keep the other listeners from hearing the event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from schedctl.events import EVENT_ALL, SchedulerEvent


class ListenerAPI:
    """Mixed into BaseScheduler, which sets up the list, its lock and the logger."""

    _listeners: list[tuple[Callable[[SchedulerEvent], Any], int]]
    _listeners_lock: threading.RLock
    _logger: logging.Logger
    #: The codes some listener wants: an event nobody hears need not be built.
    _listened_codes: int = 0

    def add_listener(self, callback: Callable[[Any], Any], mask: int = EVENT_ALL) -> None:
        """Call ``callback(event)`` for every event whose code is in ``mask``."""
        with self._listeners_lock:
            self._listeners.append((callback, mask))
            self._listened_codes |= mask

    def remove_listener(self, callback: Callable[[Any], Any]) -> None:
        with self._listeners_lock:
            self._listeners = [(cb, mask) for cb, mask in self._listeners if cb != callback]
            self._listened_codes = 0
            for _, mask in self._listeners:
                self._listened_codes |= mask

    def _listened(self, code: int) -> bool:
        """Whether some listener hears ``code``; the loop and the executors ask before they
        build an event of every run (three frozen dataclasses a run, a fifth of its cost)."""
        return bool(self._listened_codes & code)

    def _dispatch_event(self, event: SchedulerEvent) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback, mask in listeners:
            if event.code & mask:
                try:
                    callback(event)
                except Exception:
                    self._logger.exception(
                        "Error notifying listener %r of %s", callback, event.name
                    )
