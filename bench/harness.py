"""What a workload declares (cases to measure, rows to report) and the statistics on them.

A workload module provides ``cases(size, libs) -> list[Case]``, ``run(case) -> dict``
(executed in a child process) and ``report(results, libs) -> list[Row]``. The runner
does the rest: repetitions, child processes, timeouts, medians, table and JSON.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

#: Results of one case: one dict of metrics per repetition.
Reps = list[dict[str, Any]]


@dataclass(frozen=True)
class Size:
    """How big and how often: ``full`` is the real benchmark, ``quick`` a rehearsal,
    ``smoke`` a seconds-long check that everything still runs."""

    name: str
    reps: int


SIZES = {"full": Size("full", 3), "quick": Size("quick", 1), "smoke": Size("smoke", 1)}


@dataclass(frozen=True)
class Case:
    """One measurement: a workload on one engine and store, with its parameters.

    ``timeout`` is the hard cap on one child process; ``reps`` overrides the size's
    repetitions; ``setup`` cases prepare files for later cases and are not reported.
    """

    workload: str
    lib: str
    store: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float = 120.0
    reps: int | None = None
    setup: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}/{self.lib}/{self.store}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Value:
    """A reported figure: ``number`` (None if unmeasured), or a bound such as '>30 s'."""

    number: float | None
    text: str | None = None
    mark: str = ""  # appended, e.g. '*' for an extrapolated figure

    def show(self, fmt: Callable[[float], str]) -> str:
        if self.text is not None:
            return self.text
        return "—" if self.number is None else fmt(self.number) + self.mark


@dataclass
class Row:
    """One line of the table. ``met`` is None when there is no goal (or it cannot be judged)."""

    workload: str
    metric: str
    unit: str
    schedctl: Value
    apscheduler: Value
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        a, b = self.schedctl.number, self.apscheduler.number
        if a is None or b is None or b == 0:
            return None
        return a / b


class Results:
    """Per-case repetitions, with the statistics reports need."""

    def __init__(self, data: dict[str, Reps]) -> None:
        self.data = data

    def reps(self, name: str, lib: str, store: str) -> Reps:
        return [r for r in self.data.get(f"{name}/{lib}/{store}", []) if "error" not in r]

    def median(self, name: str, lib: str, store: str, metric: str) -> float | None:
        values = [r[metric] for r in self.reps(name, lib, store) if r.get(metric) is not None]
        return statistics.median(values) if values else None

    def value(self, name: str, lib: str, store: str, metric: str, cap_text: str = "") -> Value:
        """The median, or the cap (``'>30 s'``) when every repetition hit it."""
        number = self.median(name, lib, store, metric)
        if number is None and cap_text and self.reps(name, lib, store):
            return Value(None, cap_text)
        return Value(number)

    def errors(self) -> dict[str, list[str]]:
        return {
            key: [r["error"] for r in reps if "error" in r]
            for key, reps in self.data.items()
            if any("error" in r for r in reps)
        }


def at_most(value: Value, limit: float) -> bool | None:
    return None if value.number is None else value.number <= limit


def compare(ours: Value, theirs: Value, better: str = "lower", factor: float = 1.0) -> bool | None:
    """Whether ``ours`` beats ``theirs`` by ``factor``; a capped APScheduler figure counts as
    beaten, since the cap is a lower bound on its time."""
    if ours.number is None:
        return None
    if theirs.number is None:
        return True if theirs.text and theirs.text.startswith(">") and better == "lower" else None
    if better == "lower":
        return ours.number * factor <= theirs.number
    return ours.number >= theirs.number * factor


def all_met(checks: Iterable[bool | None]) -> bool | None:
    """True if all are met, False if any is missed, None if none can be judged."""
    checks = list(checks)
    if any(c is False for c in checks):
        return False
    return True if checks and all(c is True for c in checks) else None


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest-rank: no interpolation between two runs."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
