"""BootTrigger: a job that runs once per boot of the machine (crontab's ``@reboot``).

It has no fire times of its own, so the scheduler never starts it on a clock;
``schedctl run`` starts it at start-up when the kernel's boot id differs from the
one recorded at its last run. Restarting schedctl therefore does not rerun it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schedctl.triggers._common import STATE_VERSION, check_version
from schedctl.triggers.base import BaseTrigger

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


class BootTrigger(BaseTrigger):
    """Never fires on a clock; see the module docstring."""

    alias = "boot"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return None

    def describe(self) -> str:
        return "once after each boot"

    def __str__(self) -> str:
        return "@reboot"

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BootTrigger:
        check_version(state, cls)
        return cls()


def current_boot_id(path: str = BOOT_ID_PATH) -> str | None:
    """The kernel's id of this boot, or None where there is none to read."""
    try:
        with open(path, encoding="ascii") as stream:
            return stream.read().strip() or None
    except OSError:
        return None
