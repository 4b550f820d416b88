"""The scheduler's three states, shared by BaseScheduler and the parts mixed into it."""

from __future__ import annotations

STATE_STOPPED = 0
STATE_RUNNING = 1
STATE_PAUSED = 2
