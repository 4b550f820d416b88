"""The commands running now, so shutdown and ``overlap: replace`` can stop them."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schedctl.commands.outcome import StopReason
    from schedctl.commands.running import RunningCommand

#: Which run a command is: ``(scheduled_for, attempt)``, as the history keys it.
RunKey = tuple[datetime, int]

#: The longest a finished run keeps reading output that a leftover process holds open.
_DRAIN_MAX = 1.0


class ProcessRegistry:
    """The commands running now, so shutdown and ``overlap: replace`` can stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[RunningCommand, RunKey | None] = {}

    def add(self, command: RunningCommand, run: RunKey | None = None) -> None:
        with self._lock:
            self._running[command] = run

    def discard(self, command: RunningCommand) -> None:
        with self._lock:
            self._running.pop(command, None)

    def runs(self) -> list[tuple[RunningCommand, RunKey]]:
        """The commands running now that belong to a run of the history, with its key."""
        with self._lock:
            return [(command, run) for command, run in self._running.items() if run is not None]

    def running(self, job_id: str | None = None) -> list[RunningCommand]:
        with self._lock:
            return [c for c in self._running if job_id is None or c.job_id == job_id]

    def terminate_all(
        self, grace: float | None = None, *, wait: bool = True
    ) -> list[RunningCommand]:
        """Stop every command (SIGTERM, SIGKILL after ``grace``, by default each command's
        own ``kill_grace``); return those still running."""
        return _terminate(self.running(), grace, wait)

    def terminate_job(
        self, job_id: str, grace: float = 10.0, *, wait: bool = True,
        reason: StopReason = "interrupted",
    ) -> list[RunningCommand]:
        """Stop the running instances of one job; return those still running. ``reason``
        is their outcome: ``replaced`` when a newer run of the job takes their place."""
        return _terminate(self.running(job_id), grace, wait, reason)


def _terminate(
    commands: list[RunningCommand], grace: float | None, wait: bool,
    reason: StopReason = "interrupted",
) -> list[RunningCommand]:
    graces = [command.spec.kill_grace if grace is None else grace for command in commands]
    for command, command_grace in zip(commands, graces):
        command.terminate(command_grace, reason=reason)
    if not wait:
        return [c for c in commands if c.result is None]
    # Waiting also enforces the SIGKILL for commands that nobody else is waiting on.
    deadline = time.monotonic() + max(graces, default=0.0) + _DRAIN_MAX + 1.0
    survivors = []
    for command in commands:
        try:
            command.wait(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            survivors.append(command)
    return survivors


#: Where :func:`~schedctl.commands.runner.execute_command` registers its runs, for the scheduler
#: to stop them.
DEFAULT_REGISTRY = ProcessRegistry()
