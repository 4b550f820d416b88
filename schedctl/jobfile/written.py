"""A trigger as a jobfile writes it, for the "schedule as written" that ``list`` and
``validate`` show under the words: ``interval[30s]``, not the engine's ``interval[0:00:30]``
(``str(trigger)`` stays APScheduler's, for the Python API and ``--json``)."""

from __future__ import annotations

from schedctl.jobfile.durations import format_duration
from schedctl.triggers.base import BaseTrigger
from schedctl.triggers.combining import BaseCombiningTrigger
from schedctl.triggers.interval import IntervalTrigger


def as_written(trigger: BaseTrigger) -> str:
    """``interval[1h30m]``, ``or[cron[0 9 * * *], interval[30s]]``; other kinds as ``str``."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval[{format_duration(trigger.interval.total_seconds())}]"
    if isinstance(trigger, BaseCombiningTrigger):
        return f"{trigger.alias}[{', '.join(as_written(child) for child in trigger.triggers)}]"
    return str(trigger)
