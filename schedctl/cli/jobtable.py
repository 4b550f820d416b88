"""``schedctl list`` as a table that fits the terminal.

The widest form shows each next run as a full local time and a distance, the last run
with its duration, the schedule as words and as written, and the latest outcomes. When
that does not fit, the table drops detail in steps (durations, seconds and years, the
schedule as written, older outcomes, the STATE column), then folds the schedules. No
timestamp is ever cut in two. Each row's texts are made once, in every form, so that
measuring the forms costs no more than a pass over their lengths.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from schedctl.cli.glyphs import outcome_glyphs, wants_unicode
from schedctl.cli.grid import (
    GAP, Cell, Column, render, render_plain, terminal_width, text_cell, width_of,
)
from schedctl.commands.escape import escape_text, wants_colour
from schedctl.cli.output import STATE_STYLES, last_run_text, local, relative, zone_of
from schedctl.state.views import JobView


@dataclass(frozen=True)
class Detail:
    """How much one form of the table shows."""

    seconds: bool  # next run: '2026-03-01 02:30:00 CET' rather than '03-01 02:30 CET'
    durations: bool  # last run: 'success 5m ago (1.2s)'
    as_written: bool  # schedule: the trigger as written under its words
    recent: int  # outcomes in the strip
    units: int  # of a distance in time: 'in 3h 12m' (2) or 'in 3h' (1)
    state_column: bool = True  # else a paused job says so under NEXT RUN, and the last
    #                            run's state and time take a line each


#: From the widest form to the narrowest; the narrowest is then folded if need be.
FORMS = (
    Detail(seconds=True, durations=True, as_written=True, recent=10, units=2),
    Detail(seconds=True, durations=False, as_written=True, recent=10, units=2),
    Detail(seconds=False, durations=False, as_written=True, recent=6, units=2),
    Detail(seconds=False, durations=False, as_written=False, recent=5, units=1,
           state_column=False),
)

#: How narrow folding may make a column: job ids are typed on command lines, so they
#: keep up to 24 characters whole; schedules wrap at spaces.
ID_FLOOR, TEXT_FLOOR = 24, 10

_HEADERS = ("ID", "SCHEDULE", "NEXT RUN", "STATE", "LAST RUN", "RECENT", "NODE")


class _Row:
    """One job's texts, each made the first time a form asks for it."""

    def __init__(self, view: JobView, now: datetime, running: bool) -> None:
        self.view = view
        self.now = now
        when = view.next_run_time
        self.overdue = when is not None and when < now and not running
        self._texts: dict[tuple[object, ...], str] = {}

    def next_run_lines(self, detail: Detail) -> tuple[str, str] | None:
        """The time and the distance (or None without a next run)."""
        when = self.view.next_run_time
        if when is None:
            return None
        key = ("next", detail.seconds, detail.units)
        if key not in self._texts:
            zone = zone_of(self.view.timezone)
            shown = local(when, zone) if detail.seconds else when.astimezone(zone).strftime(
                "%m-%d %H:%M %Z")
            distance = relative(when, self.now, detail.units)
            if self.overdue:  # nothing will run it: say so, rather than "4m ago"
                distance = f"overdue {distance.removesuffix(' ago')}"
            self._texts[key] = f"{shown}\n{distance}"
        shown, _, distance = self._texts[key].partition("\n")
        return shown, distance

    def last_run_lines(self, detail: Detail) -> tuple[str, ...]:
        record = self.view.last_run
        if record is None:
            return ("never",)
        key = ("last", detail.durations, detail.units)
        if key not in self._texts:
            self._texts[key] = last_run_text(record, self.now, durations=detail.durations,
                                             units=detail.units)
        text = self._texts[key]
        if detail.state_column:
            return (text,)
        state, _, when = text.partition(" ")
        return state, when

    def schedule_lines(self, detail: Detail) -> tuple[str, ...]:
        view = self.view
        written = view.written or view.trigger
        if detail.as_written and view.schedule != written:
            return view.schedule, written
        return (view.schedule,)

    def next_run(self, detail: Detail) -> Cell:
        lines = self.next_run_lines(detail)
        if lines is None:
            shown = "-" if detail.state_column else self.view.state
            return text_cell((shown, STATE_STYLES.get(shown, "")))
        style = "yellow" if self.overdue else ""
        return text_cell((lines[0], style), (lines[1], style))

    def last_run(self, detail: Detail) -> Cell:
        record = self.view.last_run
        style = "dim" if record is None else STATE_STYLES.get(record.state, "")
        return text_cell(*((line, style) for line in self.last_run_lines(detail)))

    def schedule(self, detail: Detail) -> Cell:
        lines = self.schedule_lines(detail)
        return text_cell((lines[0], ""), *((line, "dim") for line in lines[1:]))


def jobs_table(
    views: Sequence[JobView], now: datetime, *, scheduler_running: bool = True,
    stream: IO[str] | None = None,
) -> None:
    """``schedctl list``: one row per job, in the form that fits the terminal."""
    stream = stream or sys.stdout
    if not views:
        stream.write("No jobs in this state file. Run 'schedctl run JOBFILE' to load some.\n")
        return
    width = terminal_width(stream)
    rows = [_Row(view, now, scheduler_running) for view in views]
    detail = FORMS[0] if width is None else next(
        (form for form in FORMS if _natural_width(rows, form) <= width), FORMS[-1])
    colour = wants_colour(stream)
    if width is None and not colour:
        stream.write(_plain(rows, detail, wants_unicode(stream)))
        return
    columns = _columns(rows, detail, wants_unicode(stream))
    stream.write(render(columns, width=width, colour=colour))


def _plain(rows: Sequence[_Row], detail: Detail, unicode: bool) -> str:
    """The table of :func:`_columns`, as :func:`render_plain` takes it: texts, no styles."""
    nodes = any(row.view.node for row in rows)
    headers = [h for h in _HEADERS if (h != "STATE" or detail.state_column)
               and (h != "NODE" or nodes)]
    strips: dict[tuple[str, ...], str] = {}  # most jobs show one of a few strips
    table = []
    for row in rows:
        view = row.view
        recent = tuple(view.recent[-detail.recent:])
        strip = strips.get(recent)
        if strip is None:
            strip = strips[recent] = "".join(
                glyph for glyph, _ in _strip(view, detail, unicode))
        cells = [(view.id,), row.schedule_lines(detail),
                 row.next_run_lines(detail) or ("-" if detail.state_column else view.state,),
                 (view.state,), row.last_run_lines(detail), (strip,)]
        if not detail.state_column:
            del cells[3]
        if nodes:
            cells.append((view.node or "-",))
        table.append(cells)
    # TAB is never escaped: when the texts joined by it need no escape, none does. One
    # look at the whole table, then at each row only if something needs one.
    if _needs_escape(table):
        table = [[tuple(escape_text(text, newlines=False) for text in cell) for cell in cells]
                 if _needs_escape([cells]) else cells for cells in table]
    return render_plain(headers, table)


def _needs_escape(table: Sequence[Sequence[Sequence[str]]]) -> bool:
    joined = "\t".join([text for cells in table for cell in cells for text in cell])
    return escape_text(joined, newlines=False) is not joined


def _columns(rows: Sequence[_Row], detail: Detail, unicode: bool) -> list[Column]:
    columns = [
        Column("ID", [text_cell((row.view.id, "")) for row in rows], floor=ID_FLOOR),
        Column("SCHEDULE", [row.schedule(detail) for row in rows], floor=TEXT_FLOOR),
        Column("NEXT RUN", [row.next_run(detail) for row in rows]),
        Column("LAST RUN", [row.last_run(detail) for row in rows]),
        Column("RECENT", [[_strip(row.view, detail, unicode)] for row in rows]),
    ]
    if detail.state_column:
        columns.insert(3, Column("STATE", [
            text_cell((row.view.state, STATE_STYLES.get(row.view.state, ""))) for row in rows]))
    if any(row.view.node for row in rows):  # a shared store: which node ran it
        columns.append(Column("NODE", [text_cell((row.view.node or "-", "")) for row in rows]))
    return columns


def _natural_width(rows: Sequence[_Row], detail: Detail) -> int:
    """The width of ``detail``'s form before any folding, from the rows' texts."""
    widths = [
        max(width_of(row.view.id) for row in rows),
        max(width_of(line) for row in rows for line in row.schedule_lines(detail)),
        max(max(map(width_of, row.next_run_lines(detail) or (row.view.state,))) for row in rows),
        max(width_of(line) for row in rows for line in row.last_run_lines(detail)),
        max(min(len(row.view.recent), detail.recent) for row in rows),
    ]
    if detail.state_column:
        widths.append(max(len(row.view.state) for row in rows))
    if any(row.view.node for row in rows):
        widths.append(max(width_of(row.view.node or "-") for row in rows))
    headers = _HEADERS if detail.state_column else tuple(h for h in _HEADERS if h != "STATE")
    widths = [max(w, len(h)) for w, h in zip(widths, headers)]
    return sum(widths) + GAP * (len(widths) - 1)


def _strip(view: JobView, detail: Detail, unicode: bool) -> list[tuple[str, str]]:
    """The latest outcomes, newest right."""
    return outcome_glyphs(view.recent[-detail.recent:], unicode) or [("-", "dim")]
