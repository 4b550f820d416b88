"""``schedctl history --stats``: one block of three short lines per job, readable at 80
columns::

    backup  120 runs, success rate 92%, 3 missed, 1 skipped
      p50 12.3s  p95 45s  max 1m2s  ▁▂▃▅▂▁▁▇▂▁▁▂▃▅▂▁▁▇▂▁
      last failure 2h 5m ago: failed exit 3 - disk full
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import IO

from rich.text import Text

from schedctl.cli.glyphs import sparkline, wants_unicode
from schedctl.cli.output import STATE_STYLES, console, relative
from schedctl.commands.escape import escape_text
from schedctl.commands.spec import format_seconds
from schedctl.state.stats import JobStats


def stats_blocks(stats: Sequence[JobStats], now: datetime, stream: IO[str] | None = None) -> None:
    """Print each job's summary; the reason of its last failure folds to the width."""
    stream = stream or sys.stdout
    out = console(stream)
    if not stats:
        out.print("No runs recorded yet.")
        return
    unicode = wants_unicode(stream)
    for job in stats:
        out.print(_counts(job))
        if job.durations:
            out.print(_durations(job, unicode))
        if job.last_failure is not None:
            out.print(_last_failure(job, now))


def _counts(job: JobStats) -> Text:
    text = Text(escape_text(job.job_id, newlines=False), style="bold")
    text.append(f"  {job.runs} run{'' if job.runs == 1 else 's'}")
    rate = job.success_rate
    if rate is not None:
        style = "green" if job.failures == 0 else "red" if rate < 0.5 else "yellow"
        text.append(", ")
        text.append(f"success rate {rate:.0%}", style=style)
    for count, word in ((job.missed, "missed"), (job.skipped, "skipped"),
                        (job.replaced, "replaced")):
        if count:
            text.append(", ")
            text.append(f"{count} {word}", style="yellow")
    return text


def _durations(job: JobStats, unicode: bool) -> Text:
    parts = [f"{name} {format_seconds(value)}" for name, value in (
        ("p50", job.percentile(0.5)), ("p95", job.percentile(0.95)),
        ("max", max(job.durations)),
    ) if value is not None]
    text = Text("  " + "  ".join(parts) + "  ")
    text.append(sparkline(job.latest_durations, unicode), style="cyan")
    return text


def _last_failure(job: JobStats, now: datetime) -> Text:
    row = job.last_failure
    assert row is not None
    when = row.finished_at or row.scheduled_for
    text = Text(f"  last failure {relative(when, now)}: ")
    reason = Text(row.state, style=STATE_STYLES.get(row.state, ""))
    detail = _reason(row.state, row.exit_code, row.error)
    if detail:
        reason.append(f" {detail}")
    return text.append_text(reason)


def _reason(state: str, exit_code: int | None, error: str | None) -> str:
    error = escape_text(error, newlines=False) if error else error
    if exit_code is not None and state == "failed":
        return f"exit {exit_code}" + (f" - {error}" if error else "")
    return error or ""


