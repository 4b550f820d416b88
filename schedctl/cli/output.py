"""Rendering for people (rich tables) and for scripts (JSON). The only module that imports rich."""

from __future__ import annotations

import functools
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schedctl.commands.escape import escape_text

if TYPE_CHECKING:  # rich is imported where it is used: `list` renders without it (30 ms)
    from schedctl.state.history import RunRecord
    from schedctl.state.statusview import StatusView
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

STATE_STYLES = {
    "scheduled": "green", "paused": "yellow", "running": "cyan", "success": "green",
    "failed": "red", "error": "red", "timeout": "red", "killed": "red", "not_started": "red",
    "interrupted": "magenta", "missed": "yellow", "skipped": "yellow", "orphaned": "magenta",
    "replaced": "yellow",
}


def console(stream: IO[str] | None = None, width: int | None = None) -> Console:
    """A console that colours only a terminal and never wraps tables when piped (unless
    ``width``, as ``COLUMNS`` asks, says how wide)."""
    safe_console = _safe_console_class()
    stream = stream or sys.stdout
    if stream.isatty():
        return safe_console(file=stream, highlight=False, soft_wrap=False, width=width)
    trimmed: IO[str] = _TrimmedLines(stream)  # type: ignore[assignment]  # a text stream
    return safe_console(file=trimmed, highlight=False, soft_wrap=False, width=width or 200)


@functools.cache
def _safe_console_class() -> type[Console]:
    """A console whose text cannot steer the terminal: control characters in every string
    it renders are escaped, as in the log. A state file that another user wrote (root
    reading it with ``--state``) may hold them in a job id, a host name, an error."""
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(escape_text(text), **kwargs)

    return SafeConsole


class _TrimmedLines(io.TextIOBase):
    """A piped stream without the spaces rich pads every table row to its full width with:
    they cost a script nothing to ignore, but ``diff``, ``grep ' $'`` and editors see them."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self._stream = stream
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._partial:  # rich ends what it prints with a newline; a rest is kept as is
            self._stream.write(self._partial)
            self._partial = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False


def print_json(data: Any, stream: IO[str] | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2, default=str) + "\n")


def relative(when: datetime | None, now: datetime, units: int = 2) -> str:
    """``in 3h 12m`` / ``5m ago``: how far ``when`` is from ``now``, to two ``units``."""
    if when is None:
        return ""
    delta = (when - now).total_seconds()
    future = delta >= 0
    seconds = int(abs(delta)) if future else max(int(abs(delta)), 1)  # never "in 0s" for the past
    parts: list[str] = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == units:
            break
    text = " ".join(parts)
    return f"in {text}" if future else f"{text} ago"


def local(when: datetime | None, zone: tzinfo | None = None) -> str:
    """``2026-03-01 02:30:00 CET``: what ``strftime("%Y-%m-%d %H:%M:%S %Z")`` writes, the
    year unpadded as the C library writes it, put together here: datetime's strftime costs
    a call into the time module each time, a fifth of drawing a row of ``list``."""
    if when is None:
        return "-"
    shown = when.astimezone(zone)
    return (f"{shown.year}-{shown.month:02d}-{shown.day:02d} {shown.hour:02d}:"
            f"{shown.minute:02d}:{shown.second:02d} {shown.tzname() or ''}")


def zone_of(name: str | None) -> tzinfo | None:
    """The job's own zone for showing its times; the machine's when it has none we can load."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _state(text: str) -> Text:
    from rich.text import Text

    return Text(text, style=STATE_STYLES.get(text, ""))


def last_run_text(
    record: RunRecord, now: datetime, *, durations: bool = True, units: int = 2
) -> str:
    """``success 5m ago (1.2s)``: how and when a job's last run ended."""
    when = record.finished_at or record.started_at or record.scheduled_for
    text = f"{record.state} {relative(when, now, units)}"
    if durations and record.duration is not None:
        from schedctl.commands.spec import format_seconds  # not loaded for jobs never run

        text += f" ({format_seconds(record.duration)})"
    return text


def history_table(records: Iterable[RunRecord], now: datetime, *, show_output: bool,
                  zones: Mapping[str, str | None] | None = None,
                  stream: IO[str] | None = None, empty: str = "No runs recorded yet.") -> None:
    """``schedctl history``: newest first. ATTEMPT tells a job's retries of one scheduled run
    apart (they share its SCHEDULED time). Output and errors are escaped (``--json`` gives
    them as recorded): what a job printed is data, and on a terminal an escape sequence
    would act. Times are in each job's zone, as ``list`` shows them (``zones``: job id ->
    zone name; a job since removed: the machine's zone). Where the full dates do not fit
    the terminal, they drop the year and seconds as ``list``'s do, rather than break.
    ``empty`` is the line shown when there is no record (what the filters left out)."""
    from rich.table import Table

    from schedctl.cli.grid import terminal_width

    stream = stream or sys.stdout
    width = terminal_width(stream)
    records = list(records)
    out = console(stream, width)
    if not records:
        out.print(empty, markup=False, highlight=False)
        return
    zones = zones or {}
    rows = [_history_row(record, zone_of(zones.get(record.job_id)), short=False)
            for record in records]
    if width is not None and _history_width(records, rows) > width:
        rows = [_history_row(record, zone_of(zones.get(record.job_id)), short=True)
                for record in records]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in _HISTORY_COLUMNS:  # job ids and outcomes fold; times and numbers never
        table.add_column(column, no_wrap=column not in ("JOB", "OUTCOME"), overflow="fold")
    outputs: list[str] = []
    for record, row in zip(records, rows):
        table.add_row(*row[:-1], _state(record.state).append(row[-1]))
        if show_output and record.output:
            outputs.append(escape_text(record.output.rstrip()))
            table.add_row(_OUTPUT_MARK, "", "", "", "", "", "")
    _print_with_outputs(out, table, outputs)


_HISTORY_COLUMNS = ("RUN", "JOB", "SCHEDULED", "STARTED", "DURATION", "ATTEMPT", "OUTCOME")


def _history_row(record: RunRecord, zone: tzinfo | None, *, short: bool) -> list[str]:
    """The row's texts, the last one the outcome's detail after its state word. ``short``:
    ``03-01 02:30 CET``, and the start as a time of day when it is on the scheduled day."""
    from schedctl.commands.spec import format_seconds

    scheduled = local(record.scheduled_for, zone)
    started = local(record.started_at, zone) if record.started_at else "-"
    if short:
        day = record.scheduled_for.astimezone(zone)
        scheduled = day.strftime("%m-%d %H:%M %Z")
        if record.started_at:
            begun = record.started_at.astimezone(zone)
            started = begun.strftime("%H:%M:%S" if begun.date() == day.date() else "%m-%d %H:%M")
    return [str(record.run_id), record.job_id, scheduled, started,
            format_seconds(record.duration) if record.duration is not None else "-",
            str(record.attempt),
            escape_text(describe_outcome(record)[len(record.state):], newlines=False)]


def _history_width(records: Sequence[RunRecord], rows: Sequence[list[str]]) -> int:
    """The table's natural width: each column's widest text (the outcome with its state
    word), two spaces between."""
    from rich.cells import cell_len

    cells = [[*row[:-1], record.state + row[-1]] for record, row in zip(records, rows)]
    widths = [max(len(header), *(cell_len(row[i]) for row in cells))
              for i, header in enumerate(_HISTORY_COLUMNS)]
    return sum(widths) + 2 * (len(widths) - 1)


#: A private-use character that marks the row under a run where its output goes.
_OUTPUT_MARK = "\ue000"


def _print_with_outputs(out: Console, table: Table, outputs: list[str]) -> None:
    """The table, each marked row replaced by a run's output across the whole width: in a
    cell of its own it widened one column at 200 columns and broke words at 80."""
    from rich.padding import Padding
    from rich.segment import Segment, Segments
    from rich.text import Text

    pending = iter(outputs)
    for line in out.render_lines(table, pad=False):
        if "".join(segment.text for segment in line).startswith(_OUTPUT_MARK):
            out.print(Padding(Text(next(pending), style="dim", overflow="fold"), (0, 0, 0, 4)))
        else:
            out.print(Segments([*line, Segment.line()]), end="")


def describe_outcome(record: RunRecord) -> str:
    """The OUTCOME cell: ``failed exit 3 - disk full``; the duration has a column of its own."""
    from schedctl.commands.outcome import summarize

    clean_exit = record.state == "success" and record.exit_code in (None, 0)
    return summarize(record.state, exit_code=None if clean_exit else record.exit_code,
                     error=record.error)


def status_panel(view: StatusView, now: datetime, stream: IO[str] | None = None) -> None:
    from rich.markup import escape  # the state file's words are shown, never read as markup

    from schedctl.state.statusview import JOB_STATES

    out = console(stream)
    if view.nodes is not None:
        alive = sum(1 for node in view.nodes if node.alive)
        colour = "green" if alive else "yellow"
        out.print(f"[{colour}]{'running' if alive else 'not running'}[/] ({alive} of "
                  f"{len(view.nodes)} node(s) alive)")
    elif view.running:
        out.print(f"[green]running[/] (pid {view.pid}"
                  + (f" on {escape(view.hostname)}" if view.hostname else "")
                  + f", since {local(view.started_at)}, last heartbeat "
                  f"{relative(view.heartbeat_at, now) or 'never'})")
    else:
        out.print("[yellow]not running[/]" + (f" (last heartbeat {relative(view.heartbeat_at, now)})"
                                            if view.heartbeat_at else ""))
    out.print(f"state:    {escape(view.state_path)}")
    if view.jobfile:
        out.print(f"jobfile:  {escape(view.jobfile)}")
    jobs = view.jobs
    buckets = ", ".join(f"{jobs[name.replace(' ', '_')]} {name}" for name in JOB_STATES)
    out.print(f"jobs:     {jobs['total']} ({buckets})")
    style = "red" if view.failures_24h else "green"
    out.print(f"failures: [{style}]{view.failures_24h}[/] in the last 24 hours")
    if view.replaced_24h:  # stopped on purpose: apart from the failures
        out.print(f"replaced: {view.replaced_24h} run(s) in the last 24 hours (overlap: replace)")
    if view.nodes is not None:
        _nodes_table(out, view, now)


def _nodes_table(out: Console, view: StatusView, now: datetime) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NODE", "STATE", "HOST", "PID", "HEARTBEAT", "JOBFILE"):
        table.add_column(column)
    for node in view.nodes or []:
        state = Text("alive", style="green") if node.alive else Text(
            "stopped" if node.stopped_at else "dead", style="yellow" if node.stopped_at else "red")
        jobfile = Text(node.jobfile_digest or "-")
        if node.jobfile_differs:
            jobfile.append(" differs", style="yellow")
        table.add_row(node.node, state, node.hostname or "-", str(node.pid or "-"),
                      relative(node.heartbeat_at, now) or "-", jobfile)
    out.print("nodes:")
    out.print(table)


def not_running_note(heartbeat: datetime | None, now: datetime, *, shared: bool) -> str:
    """The warning above a list of jobs that nothing runs."""
    who = "no node is running this store" if shared else "no scheduler is running on this state file"
    since = f" (last heartbeat {relative(heartbeat, now)})" if heartbeat else ""
    return f"schedctl: warning: {who}{since}; no job runs until 'schedctl run' starts"


def no_runs_line(*, job_id: str | None, failed: bool, since: datetime | None,
                 until: datetime | None, total: int, of_job: int) -> str:
    """What ``history`` says when its filters match no run: what was asked, and how many
    runs there are in all, so an empty answer is not taken for an empty history."""
    if total == 0:
        return "No runs recorded yet."
    asked = "No " + ("failed runs" if failed else "runs")
    asked += f" of {job_id}" if job_id is not None else ""
    if since is not None:
        asked += f" scheduled since {local(since)}" + (
            f" and before {local(until)}" if until is not None else "")
    elif until is not None:
        asked += f" scheduled before {local(until)}"
    counts = f"{total} run{'' if total == 1 else 's'} recorded in all"
    if job_id is not None and (failed or since or until):
        counts += f", {of_job} of {job_id}"
    return f"{asked}; {counts}."


def jitter_note(jitter: float | None) -> str | None:
    """The line under a list of nominal times that says how much later a run may start."""
    if not jitter:
        return None
    from schedctl.jobfile.durations import format_duration

    return f"jitter: each run starts up to {format_duration(jitter)} after its time, at random"


def times_list(times: Sequence[datetime], now: datetime, zone: tzinfo | None = None,
               stream: IO[str] | None = None) -> None:
    out = console(stream)
    if not times:
        out.print("No upcoming runs.")
    for when in times:
        out.print(f"{local(when, zone)}  ({relative(when, now)})")
