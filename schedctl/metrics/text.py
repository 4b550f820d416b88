"""The per-job families in the Prometheus text format (version 0.0.4), written directly.

prometheus_client's ``generate_latest`` builds a label dict and sorts it for every
sample: about 150 ms for the 27,000 samples of 1,000 jobs on a small machine, three
times a scrape's budget. This writer produces the same format (the tests read every
line back with ``prometheus_client.parser``), and a :class:`TextCache` keeps what it
wrote for each job until the job's tallies change: a scrape writes anew only the jobs
that ran since the one before. The process-wide families go through the library
(``exposition.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schedctl.state.totals import DURATION_BUCKETS, LATENESS_BUCKETS, Histogram, Tally, TallyKey
from schedctl.state.scheduleindex import ScheduleEntry

#: Outcomes every job shows from its first scrape on, at 0, so ``increase()`` sees the
#: first one happen. Others appear when they first occur.
ALWAYS_SHOWN = ("success", "failed")

#: (job id, node label or None)
GroupKey = tuple[str, str | None]
Groups = dict[GroupKey, dict[str, Tally]]

RUNS = "schedctl_runs_total"
DURATION = "schedctl_run_duration_seconds"
LATENESS = "schedctl_run_lateness_seconds"
LAST_RUN = "schedctl_last_run_timestamp_seconds"
LAST_SUCCESS = "schedctl_last_success_timestamp_seconds"
NEXT_RUN = "schedctl_next_run_timestamp_seconds"
PAUSED = "schedctl_job_paused"
IN_PROGRESS = "schedctl_runs_in_progress"
MISSED = "schedctl_missed_runs_total"

#: name, type and help of each family, in the order written.
FAMILIES = (
    (RUNS, "counter", "Runs ended, by outcome (missed and skipped runs included)."),
    (DURATION, "histogram", "How long runs took, from start to end."),
    (LATENESS, "histogram", "How late runs started: start time minus scheduled time."),
    (LAST_RUN, "gauge", "When the latest run with this outcome ended (Unix time)."),
    (LAST_SUCCESS, "gauge", "When the latest successful run ended (Unix time)."),
    (NEXT_RUN, "gauge", "When the job runs next (Unix time); absent while it is paused."),
    (PAUSED, "gauge", "1 while the job is paused, else 0."),
    (IN_PROGRESS, "gauge", "Runs of the job going on now."),
    (MISSED, "counter", "Scheduled runs that did not happen because they were too late."),
)


@dataclass
class JobSnapshot:
    """What a scrape shows about jobs: tallies over all time, the store's schedule, and
    the runs going on now. ``by_node`` labels the runs' series with the node that ran
    them (several nodes on PostgreSQL); ``only_node`` keeps one node's (a node's own
    export). ``lateness``, by node, saves summing it from the tallies."""

    totals: Mapping[TallyKey, Tally]
    schedule: Sequence[ScheduleEntry]
    in_progress: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (job, node)
    by_node: bool = False
    only_node: str | None = None
    lateness: Mapping[str, Histogram] | None = None


class TextCache:
    """What was written for each (job, node), kept while its tallies do not change (they
    only grow, so their run count says whether they did), and each job's label text."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, tuple[int, dict[str, str]]] = {}
        self.schedule: dict[str, tuple[int | None, bool, str, str]] = {}
        self._labels: dict[GroupKey, str] = {}

    def labels(self, key: GroupKey) -> str:
        text = self._labels.get(key)
        if text is None:
            job_id, node = key
            text = f'job_id="{escape(job_id)}"'
            text = self._labels[key] = text if node is None else f'{text},node="{escape(node)}"'
        return text

    def forget_all_but(self, groups: Iterable[GroupKey], jobs: Iterable[str]) -> None:
        """Drop what belongs to jobs gone from the store."""
        keep = set(groups)
        self.groups = {key: value for key, value in self.groups.items() if key in keep}
        self._labels = {key: value for key, value in self._labels.items() if key in keep}
        known = set(jobs)
        self.schedule = {key: value for key, value in self.schedule.items() if key in known}


def render_jobs(snapshot: JobSnapshot, cache: TextCache | None = None) -> str:
    """The job families of ``snapshot`` as exposition text."""
    cache = cache if cache is not None else TextCache()
    groups = _groups(snapshot)
    texts = [_group_text(cache, key, tallies) for key, tallies in groups.items()]
    schedule = [_schedule_text(cache, entry) for entry in snapshot.schedule]
    out: list[str] = []
    for name, kind, text in FAMILIES:
        out.append(f"# HELP {name} {text}\n# TYPE {name} {kind}\n")
        if name == LATENESS:
            _lateness(out, snapshot)
        elif name == NEXT_RUN:
            out.extend(lines[0] for lines in schedule)
        elif name == PAUSED:
            out.extend(lines[1] for lines in schedule)
        elif name == IN_PROGRESS:
            _in_progress(out, cache, groups, snapshot)
        else:
            out.extend(group[name] for group in texts)
    cache.forget_all_but(groups, (entry.id for entry in snapshot.schedule))
    return "".join(out)


def _groups(snapshot: JobSnapshot) -> Groups:
    """Tallies by (job, node label): only jobs in the store, nodes merged unless labelled."""
    known = {entry.id for entry in snapshot.schedule}
    groups: Groups = {}
    every_job = not snapshot.by_node or snapshot.only_node is not None
    if every_job:
        for job_id in sorted(known):  # every job shows, runs or not
            groups[(job_id, snapshot.only_node)] = {}
    for (job_id, node, outcome), tally in snapshot.totals.items():
        if job_id not in known or (snapshot.only_node is not None and node != snapshot.only_node):
            continue
        outcomes = groups.setdefault((job_id, node if snapshot.by_node else None), {})
        if outcome in outcomes:  # several hosts' runs on one state file: one series
            merged = Tally()
            merged.merge(outcomes[outcome])
            merged.merge(tally)
            tally = merged
        outcomes[outcome] = tally  # read only, under the caller's lock
    if every_job:  # in order already
        return groups
    return dict(sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")))


def _group_text(cache: TextCache, key: GroupKey, tallies: dict[str, Tally]) -> dict[str, str]:
    version = sum(tally.runs for tally in tallies.values())
    cached = cache.groups.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    labels = cache.labels(key)
    text = {name: write(labels, tallies) for name, write in _GROUP_WRITERS.items()}
    cache.groups[key] = (version, text)
    return text


def escape(value: str) -> str:
    """A label value as the text format writes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def number(value: float) -> str:
    """A sample value: the shortest text that reads back as the same float."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _runs(labels: str, tallies: dict[str, Tally]) -> str:
    outcomes = sorted(set(ALWAYS_SHOWN) | set(tallies) - {"running"})
    return "".join(f'{RUNS}{{{labels},outcome="{escape(outcome)}"}} '
                   f"{tallies[outcome].runs if outcome in tallies else 0}\n"
                   for outcome in outcomes)


def _durations(labels: str, tallies: dict[str, Tally]) -> str:
    merged = Histogram(DURATION_BUCKETS)
    for tally in tallies.values():
        merged.merge(tally.durations)
    return _histogram(DURATION, labels, merged)


def _histogram(name: str, labels: str, histogram: Histogram) -> str:
    sep = "," if labels else ""
    inner = f"{{{labels}}}" if labels else ""
    lines = [f'{name}_bucket{{{labels}{sep}le="{number(bound)}"}} {count}\n'
             for bound, count in zip(histogram.bounds, histogram.cumulative)]
    lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {histogram.count}\n'
                 f"{name}_sum{inner} {number(histogram.total)}\n"
                 f"{name}_count{inner} {histogram.count}\n")
    return "".join(lines)


def _last_runs(labels: str, tallies: dict[str, Tally]) -> str:
    return "".join(
        f'{LAST_RUN}{{{labels},outcome="{escape(outcome)}"}} {number(tally.last_at / 1000)}\n'
        for outcome, tally in sorted(tallies.items()) if tally.last_at is not None
    )


def _last_success(labels: str, tallies: dict[str, Tally]) -> str:
    success = tallies.get("success")
    if success is None or success.last_at is None:
        return ""
    return f"{LAST_SUCCESS}{{{labels}}} {number(success.last_at / 1000)}\n"


def _missed(labels: str, tallies: dict[str, Tally]) -> str:
    missed = tallies.get("missed")
    return f"{MISSED}{{{labels}}} {missed.missed if missed else 0}\n"


_GROUP_WRITERS: dict[str, Callable[[str, dict[str, Tally]], str]] = {
    RUNS: _runs, DURATION: _durations, LAST_RUN: _last_runs, LAST_SUCCESS: _last_success,
    MISSED: _missed,
}


def _schedule_text(cache: TextCache, entry: ScheduleEntry) -> tuple[str, str]:
    cached = cache.schedule.get(entry.id)
    if cached is not None and cached[:2] == (entry.next_run_ms, entry.paused):
        return cached[2], cached[3]
    labels = cache.labels((entry.id, None))
    when = entry.next_run_ms
    next_line = "" if when is None else f"{NEXT_RUN}{{{labels}}} {number(when / 1000)}\n"
    paused_line = f"{PAUSED}{{{labels}}} {1 if entry.paused else 0}\n"
    cache.schedule[entry.id] = (when, entry.paused, next_line, paused_line)
    return next_line, paused_line


def _lateness(out: list[str], snapshot: JobSnapshot) -> None:
    """Over all jobs, those gone from the store included: a counter never goes down."""
    by_node = snapshot.lateness
    if by_node is None:
        by_node = lateness_by_node(snapshot.totals)
    shown: dict[str | None, Histogram] = {}
    if not snapshot.by_node or snapshot.only_node is not None:
        shown[snapshot.only_node] = Histogram(LATENESS_BUCKETS)
    for node, histogram in by_node.items():
        if snapshot.only_node is None or node == snapshot.only_node:
            label = node if snapshot.by_node else None
            shown.setdefault(label, Histogram(LATENESS_BUCKETS)).merge(histogram)
    for label in sorted(shown, key=lambda n: n or ""):
        labels = "" if label is None else f'node="{escape(label)}"'
        out.append(_histogram(LATENESS, labels, shown[label]))


def lateness_by_node(totals: Mapping[TallyKey, Tally]) -> dict[str, Histogram]:
    """The lateness of every run, by the node that ran it."""
    by_node: dict[str, Histogram] = {}
    for (_, node, _), tally in totals.items():
        by_node.setdefault(node, Histogram(LATENESS_BUCKETS)).merge(tally.lateness)
    return by_node


def _in_progress(out: list[str], cache: TextCache, groups: Groups,
                 snapshot: JobSnapshot) -> None:
    counts: dict[GroupKey, int] = {}
    for (job_id, node), count in snapshot.in_progress.items():
        key = (job_id, node if snapshot.by_node else None)
        counts[key] = counts.get(key, 0) + count
    known = {entry.id for entry in snapshot.schedule}
    for key in sorted(set(groups) | set(counts), key=lambda k: (k[0], k[1] or "")):
        if key in groups or key[0] in known:
            out.append(f"{IN_PROGRESS}{{{cache.labels(key)}}} {counts.get(key, 0)}\n")
