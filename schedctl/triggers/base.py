"""The trigger contract, jitter, and the JSON form stores keep triggers in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any, ClassVar

from schedctl.timeutil import UTC

#: alias -> trigger class, filled in by ``BaseTrigger.__init_subclass__``.
TRIGGER_TYPES: dict[str, type[BaseTrigger]] = {}


class BaseTrigger(ABC):
    """Computes fire times. Triggers are immutable once built.

    Subclasses implement ``get_next_fire_time``, and for persistent stores set
    ``alias`` (the name used by ``add_job(trigger='cron')`` and in stored state) and
    implement ``to_state`` and ``from_state``. A trigger written as for APScheduler 3,
    with ``get_next_fire_time`` alone, works in the memory store.
    """

    alias: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.alias:
            TRIGGER_TYPES[cls.alias] = cls

    @abstractmethod
    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next fire time as an aware datetime, or None if there is none.

        With ``previous_fire_time`` the result is strictly after it (and may be
        before ``now``: misfires are the scheduler's business); without it, the
        result is strictly after ``now``.
        """

    def to_state(self) -> dict[str, Any]:
        """A JSON-safe dict (with a ``version`` key) that ``from_state`` turns back into an
        equal trigger. ValueError when the trigger cannot be stored (the default)."""
        raise ValueError(
            f"trigger: {type(self).__name__} has no to_state() and cannot be stored; "
            "keep its jobs in the memory store, or give it to_state and from_state"
        )

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BaseTrigger:
        """Rebuild a trigger from ``to_state()`` output; ValueError on an unknown version."""
        raise ValueError(f"trigger: {cls.__name__} has no from_state() and cannot be loaded")

    def state_json(self) -> str | None:
        """``trigger_to_json(self)`` as compact ASCII JSON text, for a trigger that writes its
        fixed shape faster than the generic encoder (stores encode every job they keep);
        None, the default, leaves it to that encoder."""
        return None

    def never_fires(self) -> str | None:
        """Why this trigger can never fire, as a sentence, or None when it may.

        The Python API accepts such a trigger as APScheduler 3 does: its job is kept
        without a next run time. The jobfile refuses it with this message.
        """
        return None

    def describe(self) -> str:
        """The schedule in words for people; subclasses say it better than ``str()``."""
        return str(self)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        if type(self).to_state is BaseTrigger.to_state:  # nothing to compare but identity
            return self is other
        return self.to_state() == other.to_state()

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self)))

    def __str__(self) -> str:
        return self.alias or type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({self})>"

    @staticmethod
    def _apply_jitter(
        fire_time: datetime | None, jitter: float | None, now: datetime | None = None
    ) -> datetime | None:
        """Add a uniform 0..jitter seconds, spreading a herd of jobs due at the same instant.

        The delay is added in UTC (on a zoned datetime it would be wall-clock arithmetic)
        and the result keeps ``fire_time``'s zone. A slot so near the end of time that no
        delay fits runs undelayed. ``now`` is unused; APScheduler 3 triggers pass it.
        """
        if fire_time is None or not jitter:
            return fire_time
        import random  # only a jittered trigger draws; readers of a store never do

        delay = timedelta(seconds=random.uniform(0, jitter))
        try:
            return (fire_time.astimezone(UTC) + delay).astimezone(fire_time.tzinfo)
        except OverflowError:
            return fire_time


def trigger_to_json(trigger: BaseTrigger) -> dict[str, Any]:
    """``{"type": alias, ...state}``: what stores keep."""
    if not trigger.alias:
        raise ValueError(
            f"trigger: {type(trigger).__name__} has no alias and cannot be stored; keep its "
            "jobs in the memory store, or give it an alias, to_state and from_state"
        )
    return {"type": trigger.alias, **trigger.to_state()}


def trigger_from_json(data: dict[str, Any]) -> BaseTrigger:
    state = dict(data)
    alias = state.pop("type", None)
    return trigger_class(str(alias)).from_state(state)


#: The built-in aliases and where their classes live, imported on first use.
BUILTIN_TRIGGERS = {
    "date": "schedctl.triggers.date:DateTrigger",
    "interval": "schedctl.triggers.interval:IntervalTrigger",
    "cron": "schedctl.triggers.cron:CronTrigger",
    "calendarinterval": "schedctl.triggers.calendarinterval:CalendarIntervalTrigger",
    "and": "schedctl.triggers.combining:AndTrigger",
    "or": "schedctl.triggers.combining:OrTrigger",
    "boot": "schedctl.triggers.boot:BootTrigger",
}


def trigger_class(alias: str) -> type[BaseTrigger]:
    """The trigger class for ``alias`` ('cron', 'interval', ...); ValueError names the alias."""
    if alias not in TRIGGER_TYPES and alias in BUILTIN_TRIGGERS:
        from schedctl.refs import ref_to_obj

        ref_to_obj(BUILTIN_TRIGGERS[alias])
    try:
        return TRIGGER_TYPES[alias]
    except KeyError:
        known = ", ".join(sorted(set(TRIGGER_TYPES) | set(BUILTIN_TRIGGERS)))
        raise ValueError(f"trigger: unknown trigger alias {alias!r} (known: {known})") from None
