"""Publishing the runs going on, for ``schedctl top``: once a second, each running
command's pid and the output it printed so far go into its history row.

A thread of its own, so that a slow store never holds up the control thread (signals,
heartbeat, watchdog); a write that fails is retried at the next second.
"""

from __future__ import annotations

import logging
import threading

from schedctl.commands.processes import DEFAULT_REGISTRY, ProcessRegistry
from schedctl.errors import StoreError
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.state.live import LIVE_CHARS, AttemptKey, publish_live

#: Seconds between two looks at the running commands.
LIVE_SECONDS = 1.0

_logger = logging.getLogger("schedctl.run")


class LivePublisher:
    """Writes what changed since its last look; ``stop`` ends its thread."""

    def __init__(self, store: SQLJobStore, owner: str,
                 registry: ProcessRegistry = DEFAULT_REGISTRY) -> None:
        self._store = store
        self._owner = owner
        self._registry = registry
        self._published: dict[AttemptKey, tuple[int, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedctl-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def publish(self) -> None:
        """One look: write the pid and output of each attempt that changed."""
        now = {
            (command.job_id, run[0], run[1]): (command.pid, command.output_so_far()[-LIVE_CHARS:])
            for command, run in self._registry.runs()
        }
        changed = {key: value for key, value in now.items() if self._published.get(key) != value}
        publish_live(self._store, changed, owner=self._owner)
        self._published = now

    def _loop(self) -> None:
        while not self._stop.wait(LIVE_SECONDS):
            try:
                self.publish()
            except StoreError as exc:  # the run log reports the store; try again next second
                _logger.debug("Could not publish the running commands: %s", exc)
            except Exception:  # never worth ending the thread for: top would go blind
                _logger.exception("Could not publish the running commands")
