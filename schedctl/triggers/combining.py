"""AndTrigger and OrTrigger: one schedule made of several."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schedctl.timeutil import UTC
from schedctl.triggers._common import (
    ONE_MICROSECOND,
    STATE_VERSION,
    check_jitter,
    check_version,
)
from schedctl.triggers.base import BaseTrigger, trigger_from_json, trigger_to_json

#: How many times AndTrigger lets its children catch up with each other before it
#: gives up (children that never agree, such as minute=0 and minute=30, would loop forever).
MAX_ROUNDS = 10_000


class BaseCombiningTrigger(BaseTrigger):
    """Children, jitter, state and text shared by AndTrigger and OrTrigger."""

    def __init__(self, triggers: Sequence[BaseTrigger], jitter: float | None = None) -> None:
        if isinstance(triggers, BaseTrigger) or not isinstance(triggers, Sequence):
            raise TypeError(f"triggers: expected a list of triggers, got {triggers!r}")
        if not triggers:
            raise ValueError("triggers: must not be empty")
        for child in triggers:
            if not isinstance(child, BaseTrigger):
                raise TypeError(f"triggers: {child!r} is not a trigger")
        self.triggers = list(triggers)
        self.jitter = check_jitter(jitter)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return self._jittered(self._next_fire_time(previous_fire_time, now))

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        raise NotImplementedError

    def _jittered(self, fire_time: datetime | None) -> datetime | None:
        # In UTC: adding seconds to a zoned datetime is wall-clock arithmetic.
        if fire_time is None or not self.jitter:
            return fire_time
        jittered = self._apply_jitter(fire_time.astimezone(UTC), self.jitter)
        return None if jittered is None else jittered.astimezone(fire_time.tzinfo)

    def describe(self) -> str:
        joined = "; ".join(child.describe() for child in self.triggers)
        return f"{'all' if self.alias == 'and' else 'any'} of ({joined})"

    def __str__(self) -> str:
        return f"{self.alias}[{', '.join(str(child) for child in self.triggers)}]"

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "triggers": [trigger_to_json(child) for child in self.triggers],
            "jitter": self.jitter,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BaseCombiningTrigger:
        check_version(state, cls)
        return cls(
            [trigger_from_json(child) for child in state["triggers"]], jitter=state["jitter"]
        )


class AndTrigger(BaseCombiningTrigger):
    """Fires at the earliest instant on which every child trigger agrees.

    Children are asked for their unjittered times and moved forward to the latest of
    them until all agree; the combination ends when any child ends. Meant for
    wall-clock triggers (cron, calendarinterval): children whose grids never meet
    give up after ``MAX_ROUNDS`` and count as finished.
    """

    alias = "and"

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        times = [unjittered(child, previous_fire_time, now) for child in self.triggers]
        return self._agree(times, previous_fire_time)

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The first agreed fire time at or after ``earliest``, without jitter."""
        return self._agree([at_or_after(c, previous, earliest) for c in self.triggers], previous)

    def _agree(self, times: list[datetime | None], previous: datetime | None) -> datetime | None:
        for _ in range(MAX_ROUNDS):
            if any(t is None for t in times):
                return None
            # Compare in UTC: datetimes sharing a zone compare by wall clock, ignoring fold.
            instants = [t.astimezone(UTC) for t in times if t is not None]
            latest = max(instants)
            if all(instant == latest for instant in instants):
                return times[0]
            times = [
                time if instant == latest else at_or_after(child, previous, latest)
                for child, time, instant in zip(self.triggers, times, instants)
            ]
        return None


class OrTrigger(BaseCombiningTrigger):
    """Fires at the earliest of its children's next fire times (each with its own jitter);
    ends when all children end."""

    alias = "or"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        times = [child.get_next_fire_time(previous_fire_time, now) for child in self.triggers]
        return self._jittered(_earliest(times))

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return _earliest([unjittered(c, previous_fire_time, now) for c in self.triggers])

    def skip_to(self, previous: datetime | None, earliest: datetime) -> datetime | None:
        """The first fire time of any child at or after ``earliest``, without jitter."""
        return _earliest([at_or_after(c, previous, earliest) for c in self.triggers])


def unjittered(child: BaseTrigger, previous: datetime | None, now: datetime) -> datetime | None:
    """A child's next fire time without its jitter, where the child can tell it."""
    method = getattr(child, "_next_fire_time", None) or child.get_next_fire_time
    result: datetime | None = method(previous, now)
    return result


def at_or_after(
    child: BaseTrigger, previous: datetime | None, earliest: datetime
) -> datetime | None:
    """A child's first fire time at or after ``earliest`` in the sequence that follows ``previous``."""
    skip_to = getattr(child, "skip_to", None)
    if skip_to is not None:
        result: datetime | None = skip_to(previous, earliest)
        return result
    # A foreign trigger: assume it is stateless, then walk its own sequence.
    fire_time = child.get_next_fire_time(previous, earliest - ONE_MICROSECOND)
    for _ in range(MAX_ROUNDS):
        if fire_time is None or fire_time >= earliest:
            return fire_time
        fire_time = child.get_next_fire_time(fire_time, earliest)
    return None


def _earliest(times: list[datetime | None]) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found, key=lambda t: t.astimezone(UTC)) if found else None
