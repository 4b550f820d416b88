"""Drawing ``schedctl top``: the frame, and the loop that redraws it every second.

What runs now (job, attempt, elapsed time, pid, its last output lines), what runs next,
and the latest outcomes, from :func:`schedctl.state.topview.top_view`, the views that
``list`` and ``status`` read. Each section gives up rows before the frame outgrows the
terminal, and long cells are cut, never wrapped, so the frame stays one screen at 80
columns over SSH. ``q`` or Ctrl-C quits; without a terminal, one frame is printed.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import tty
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Self

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from schedctl.cli.glyphs import outcome_glyphs
from schedctl.cli.output import STATE_STYLES, console, describe_outcome, relative, zone_of
from schedctl.commands.spec import format_seconds
from schedctl.state.topview import TopView

#: Seconds between two frames.
REFRESH_SECONDS = 1.0
#: Output lines shown under a running command, at most.
OUTPUT_LINES = 3


def run_live(frame: Callable[[int], RenderableType], out: IO[str], keys_in: IO[str]) -> None:
    """Redraw ``frame`` every second until q or Ctrl-C; one frame when ``out`` is no terminal."""
    screen = console(out)
    if not out.isatty():
        screen.print(frame(screen.height))
        return
    with Keys(keys_in) as keys, Live(frame(screen.height), console=screen, screen=True,
                                     auto_refresh=False) as live:
        try:
            while not keys.quit_within(REFRESH_SECONDS):
                live.update(frame(screen.height), refresh=True)
        except KeyboardInterrupt:
            pass


class Keys:
    """The keyboard while top runs: the terminal in cbreak mode (a key arrives without
    Enter; Ctrl-C still interrupts), restored on the way out."""

    def __init__(self, stream: IO[str]) -> None:
        try:
            self._fd: int | None = stream.fileno() if stream.isatty() else None
        except (AttributeError, ValueError, OSError):
            self._fd = None
        self._saved: list[Any] | None = None

    def __enter__(self) -> Self:
        if self._fd is not None:
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None and self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def quit_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a key; True when it was q."""
        if self._fd is None:
            threading.Event().wait(seconds)
            return False
        ready, _, _ = select.select([self._fd], [], [], seconds)
        return bool(ready) and b"q" in os.read(self._fd, 64).lower()


# -- the frame ---------------------------------------------------------------------------------

def render_frame(view: TopView, now: datetime, *, height: int, unicode: bool) -> RenderableType:
    """The whole screen: a status line, then RUNNING, NEXT and LATEST, within ``height``."""
    room = max(height - 9, 3)  # the status line, three titles, three headers, the key hint
    output_lines = OUTPUT_LINES if len(view.runs) * (1 + OUTPUT_LINES) <= room // 2 else (
        1 if len(view.runs) * 2 <= room // 2 else 0)
    runs_shown = min(len(view.runs), max(room // 2 // (1 + output_lines), 1))
    left = max(room - runs_shown * (1 + output_lines), 2)
    parts: list[RenderableType] = [
        _status(view, now),
        _title(f"RUNNING ({len(view.runs)})"),
        _running(view, now, runs_shown, output_lines),
        _title("NEXT"),
        _upcoming(view, now, left - left // 2),
        _title("LATEST"),
        _latest(view, now, left // 2, unicode),
        Text("q quit", style="dim"),
    ]
    return Group(*parts)


def _status(view: TopView, now: datetime) -> Text:
    text = Text("schedctl top  ", style="bold")
    if view.running:
        text.append("running", style="green")
    else:
        text.append("no scheduler running", style="yellow")
        if view.heartbeat_at:
            text.append(f" (last heartbeat {relative(view.heartbeat_at, now)})")
    text.append(f"  {view.jobs} job{'' if view.jobs == 1 else 's'}  ")
    text.append(now.astimezone().strftime("%H:%M:%S %Z"), style="dim")
    return text


def _title(text: str) -> Text:
    return Text(text, style="bold")


def _table(*columns: tuple[str, dict[str, object]]) -> Table:
    table = Table(box=None, header_style="dim", pad_edge=False, show_edge=False, expand=False)
    for name, options in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis", **options)  # type: ignore[arg-type]
    return table


def _running(view: TopView, now: datetime, rows: int, output_lines: int) -> RenderableType:
    if not view.runs:
        return Text("  nothing", style="dim")
    table = _table(("JOB", _id_width(run.job_id for run in view.runs[:rows])), ("ATTEMPT", {}),
                   ("ELAPSED", {}), ("PID", {"justify": "right"}), ("OUTPUT", {"ratio": 1}))
    for run in view.runs[:rows]:
        lines = last_lines(run.output, output_lines) if output_lines else []
        attempts = view.attempts.get(run.job_id)
        elapsed = format_seconds(max((now - run.started_at).total_seconds(), 0)) if run.started_at else "-"
        table.add_row(run.job_id, f"{run.attempt}/{attempts}" if attempts else str(run.attempt),
                      elapsed, str(run.pid) if run.pid else "-",
                      Text("\n".join(lines) or "", style="dim"))
    return table


def _upcoming(view: TopView, now: datetime, rows: int) -> RenderableType:
    if not view.upcoming:
        return Text("  nothing scheduled", style="dim")
    shown = view.upcoming[:max(rows, 1)]
    table = _table(("JOB", _id_width(job.id for job in shown)), ("AT", {}), ("IN", {}),
                   ("SCHEDULE", {"ratio": 1}))
    for job in shown:
        when = job.next_run_time
        assert when is not None
        overdue = when < now and not view.running
        table.add_row(job.id, when.astimezone(zone_of(job.timezone)).strftime("%m-%d %H:%M:%S %Z"),
                      Text(f"overdue {relative(when, now).removesuffix(' ago')}", style="yellow")
                      if overdue else relative(when, now), job.schedule)
    return table


def _latest(view: TopView, now: datetime, rows: int, unicode: bool) -> RenderableType:
    if not view.latest:
        return Text("  no runs yet", style="dim")
    shown = view.latest[:max(rows, 1)]
    ended = [relative(record.finished_at or record.scheduled_for, now) for record in shown]
    table = _table(("JOB", _id_width(record.job_id for record in shown)),
                   ("ENDED", {"min_width": max(map(len, ended))}), ("OUTCOME", {"ratio": 1}))
    for record, when in zip(shown, ended):
        [(glyph, style)] = outcome_glyphs([record.state], unicode)
        outcome = Text(f"{glyph} ", style=style)
        outcome.append(printable(describe_outcome(record)), style=STATE_STYLES.get(record.state, ""))
        if record.duration is not None:
            outcome.append(f" ({format_seconds(record.duration)})", style="dim")
        table.add_row(record.job_id, when, outcome)
    return table


def _id_width(ids: Iterable[str]) -> dict[str, object]:
    """A JOB column that a long OUTCOME or OUTPUT cannot squeeze: ids stay whole up to 24
    cells, and the text column beside them is cut instead."""
    return {"max_width": 24, "min_width": min(max((len(i) for i in ids), default=3), 24)}


def last_lines(output: str, count: int) -> list[str]:
    """The last ``count`` non-empty lines of a command's output, made safe to show."""
    lines = [line for line in output.replace("\r", "\n").split("\n") if line.strip()]
    return [printable(line) for line in lines[-count:]]


def printable(text: str) -> str:
    """What a job prints is data: control characters and line separators become ``?``,
    tabs a space, so no output can move the cursor or restyle the screen."""
    return "".join(
        " " if char == "\t" else "?" if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
        else char for char in text
    )


