"""What ``schedctl run --metrics`` serves: ``/metrics`` and ``/healthz``.

Nothing runs between scrapes. The run counters live in memory (:class:`LiveRuns`, fed
by the history); a scrape adds the store's index (next run times, paused jobs; no job
decoded), the runs the executors hold, and the alert and store error counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from schedctl import __version__
from schedctl.errors import StoreError
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.metrics.exposition import CONTENT_TYPE, ProcessCollector, render
from schedctl.metrics.health import LoopWatch, StoreProbe, store_check
from schedctl.metrics.live import LiveRuns
from schedctl.metrics.server import MetricsServer, Response
from schedctl.metrics.text import JobSnapshot, TextCache
from schedctl.state.history import RunHistory
from schedctl.state.totals import read_totals
from schedctl.state.scheduleindex import ScheduleEntry, schedule_index

_log = logging.getLogger("schedctl.metrics")
_TEXT = "text/plain; charset=utf-8"


class MetricsExporter:
    """Counts the runs ``history`` records from now on (on top of those already stored),
    and serves them through ``server`` (bound already, or bound at start) once started.

    ``node`` is this node's name on a shared store: its runs carry it as a label.
    ``running`` gives the runs going on now by job id; ``alerts`` the alert counts
    by (kind, result); ``failing_since`` when the scheduler began to run from memory
    because the store fails (None while it works).
    """

    def __init__(
        self, server: MetricsServer, store: SQLJobStore, history: RunHistory, *,
        watch: LoopWatch, running: Callable[[], Mapping[str, int]],
        alerts: Callable[[], Mapping[tuple[str, str], int]] | None = None,
        failing_since: Callable[[], datetime | None] | None = None,
        node: str | None = None,
    ) -> None:
        self.store = store
        self.watch = watch
        self.node = node
        self._running = running
        self._alerts = alerts or dict
        self._failing_since = failing_since or (lambda: None)
        self.live = LiveRuns(read_totals(store))
        history.observer = self.live
        self._probe = StoreProbe(store_check(store))
        self._schedule: list[ScheduleEntry] = []  # the last one read, for a store that fails
        self._texts = TextCache()  # each job's lines, written again only when it ran
        server.routes = {"/metrics": self.metrics, "/healthz": self.healthz, "/": self.index}
        self.server = server

    def start(self) -> None:
        self.server.start()
        _log.info("Serving metrics on %s", self.url)

    def close(self) -> None:
        self.server.close()

    @property
    def url(self) -> str:
        where = self.server.where
        return f"unix:{where}" if self.server.address.is_unix else f"http://{where}/metrics"

    # -- the routes ------------------------------------------------------------------------

    def metrics(self) -> Response:
        return 200, CONTENT_TYPE, self.exposition()

    def healthz(self) -> Response:
        problem = self.watch.problem() or self._store_failing() or self._probe.problem()
        if problem is None:
            return 200, _TEXT, b"ok\n"
        return 503, _TEXT, f"unhealthy: {problem}\n".encode()

    def _store_failing(self) -> str | None:
        since = self._failing_since()
        if since is None:
            return None
        return (f"the state store fails since {since.isoformat(timespec='seconds')}; jobs run "
                "from the schedule kept in memory")

    def index(self) -> Response:
        return 200, _TEXT, f"schedctl {__version__}: /metrics, /healthz\n".encode()

    # -- one scrape ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        schedule = self._read_schedule()
        node = self.node or ""
        running = {(job_id, node): count for job_id, count in self._running().items() if count}
        process = ProcessCollector(alerts=dict(self._alerts()),
                                   store_errors=getattr(self.store, "errors", 0))
        with self.live.reading() as (totals, lateness):  # the cache is guarded by it too
            snapshot = JobSnapshot(totals, schedule, running, by_node=self.node is not None,
                                   only_node=self.node, lateness=lateness)
            return render(snapshot, process, self._texts)

    def _read_schedule(self) -> list[ScheduleEntry]:
        try:
            self._schedule = schedule_index(self.store)
        except StoreError as exc:  # counted in schedctl_store_errors_total; /healthz says why
            _log.debug("Metrics show the last schedule read: %s", exc)
        return self._schedule
