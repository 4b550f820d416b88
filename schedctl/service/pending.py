"""History writes held while the state store fails, written once it works again.

A full disk must not stop the jobs (the scheduler runs them from memory meanwhile), and
it must not lose what they did either: a run that started before the outage and ended
during it would stay ``running`` in the history, be counted as running by ``status``, and
be called ``interrupted`` by the next start, although it succeeded. So a write the store
refuses waits here, in order, and is made when the store takes writes again: at the next
run's write, at the control thread's next heartbeat, or at the stop.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from schedctl.errors import StoreError

#: The most writes held; past it the oldest are given up (and counted), so a store that
#: never comes back cannot exhaust memory.
MAX_HELD = 10_000

_logger = logging.getLogger("schedctl.events")


class PendingWrites:
    """Writes to the history that failed with StoreError, oldest first."""

    def __init__(self, limit: int = MAX_HELD) -> None:
        self._writes: deque[Callable[[], object]] = deque()
        self._limit = limit
        self._lock = threading.RLock()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._writes)

    def hold(self, write: Callable[[], object]) -> None:
        with self._lock:
            if len(self._writes) >= self._limit:
                self._writes.popleft()
                self.dropped += 1
            self._writes.append(write)

    def write(self, write: Callable[[], object]) -> tuple[bool, object]:
        """Make ``write`` after those held before it; (False, None) when it is held too.
        Errors other than StoreError are the caller's."""
        with self._lock:
            if not self.flush():
                self.hold(write)
                return False, None
            try:
                return True, write()
            except StoreError:
                self.hold(write)
                raise

    def flush(self) -> bool:
        """Make the held writes, oldest first, until one fails; True when none is left."""
        with self._lock:
            if not self._writes:
                return True
            written = 0
            while self._writes:
                try:
                    self._writes[0]()
                except StoreError as exc:
                    _logger.debug("The state file still cannot be written: %s", exc)
                    return False
                except Exception:  # a write that can never succeed must not block the rest
                    _logger.exception("Gave up a run record that could not be written")
                self._writes.popleft()
                written += 1
            _logger.warning("The state file works again: wrote %d run record(s) held since it "
                            "failed%s", written, self._dropped_note())
            self.dropped = 0
            return True

    def _dropped_note(self) -> str:
        return f" ({self.dropped} older one(s) were given up)" if self.dropped else ""
