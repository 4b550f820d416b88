"""The whole exposition: the process-wide families, then the job families (``text.py``).
One function for ``schedctl run --metrics`` and one for ``schedctl metrics``, so both
print the same names, labels and help.

The process families are written here, as the job families are, not through
prometheus_client: importing the library pulls in ``http.server``, ``urllib.request``
and ``ssl`` (7 MB of a service that idles at 30). The tests read the text back with
its parser and compare it with what the library writes for the same families.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import get_args

from schedctl import __version__
from schedctl.alerts.context import AlertKind
from schedctl.errors import SchedctlError
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.metrics.text import JobSnapshot, TextCache, escape, render_jobs
from schedctl.state.stores import is_shared
from schedctl.state.totals import read_totals, running_now
from schedctl.state.scheduleindex import schedule_index
from schedctl.state.views import scheduler_running

#: The text format written: the classic one every Prometheus reads (prometheus_client's
#: newest "latest" is a later version, with UTF-8 names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Alert kinds and results shown from the start, at 0: every kind of alert the rules send
#: (``output`` is crontab's MAILTO), and pings.
ALERT_KINDS = (*get_args(AlertKind), "ping")
ALERT_RESULTS = ("sent", "failed", "dropped")


class ProcessCollector:
    """Build information always; alerts and store errors when a running scheduler counts them."""

    def __init__(self, alerts: Mapping[tuple[str, str], int] | None = None,
                 store_errors: int | None = None) -> None:
        self._alerts = alerts
        self._store_errors = store_errors

    def text(self) -> str:
        """The families as exposition text, in the library's layout (float samples)."""
        out = [_family("schedctl_build_info", "gauge", "The running schedctl's version."),
               f'schedctl_build_info{{version="{escape(__version__)}"}} 1.0\n']
        if self._alerts is not None:
            out.append(_family(
                "schedctl_alerts_total", "counter", "Alerts handed to the alert thread, by kind "
                "and result (sent, failed, or dropped when too many were waiting)."))
            counts = {(kind, result): 0 for kind in ALERT_KINDS for result in ALERT_RESULTS}
            counts.update(self._alerts)
            out.extend(f'schedctl_alerts_total{{kind="{escape(kind)}",result="{escape(result)}"}}'
                       f" {float(count)!r}\n" for (kind, result), count in sorted(counts.items()))
        if self._store_errors is not None:
            out += [_family("schedctl_store_errors_total", "counter",
                            "Operations on the state store that failed."),
                    f"schedctl_store_errors_total {float(self._store_errors)!r}\n"]
        return "".join(out)


def _family(name: str, kind: str, text: str) -> str:
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


def render(snapshot: JobSnapshot, process: ProcessCollector,
           cache: TextCache | None = None) -> bytes:
    """The exposition text of one scrape."""
    return (process.text() + render_jobs(snapshot, cache)).encode()


def store_exposition(store: SQLJobStore) -> bytes:
    """What a state store says over all time, read the way ``schedctl list`` reads it: for a
    PostgreSQL store, every node's runs with a ``node`` label (the cluster's view)."""
    alive = scheduler_running(store)
    snapshot = JobSnapshot(
        totals=read_totals(store), schedule=schedule_index(store),
        # A state file's 'running' rows are live only while its scheduler is.
        in_progress=running_now(store) if alive else {}, by_node=is_shared(store),
    )
    return render(snapshot, ProcessCollector())


class MetricsFileError(SchedctlError):
    """The metrics file cannot be written: its directory is missing, read-only, full..."""

    def __init__(self, path: str, error: OSError) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        why = error.strerror or str(error)
        if isinstance(error, FileNotFoundError):
            why = f"the directory {directory} does not exist; create it or write elsewhere"
        elif isinstance(error, PermissionError):
            why = f"no permission to write in {directory}; run as its owner or write elsewhere"
        super().__init__(f"cannot write the metrics to {path}: {why}")


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` whole, so a reader (node_exporter's textfile collector) never sees
    half a file: written beside it under a new name, then renamed over it. World-readable
    (0644) from its creation: the collector runs as another user, and job ids and counts
    are no secret. Raises MetricsFileError when it cannot."""
    try:
        _replace(path, data)
    except OSError as exc:
        raise MetricsFileError(path, exc) from None


def _replace(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{Path(path).name}.{os.urandom(6).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
