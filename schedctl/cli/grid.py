"""A plain text table that fits a terminal's width: columns padded to their widest line,
shortened by the caller's narrower variants, then folded.

rich's Table costs about 0.4 ms a row, which made ``list`` over 1,000 jobs take 600 ms;
this layout measures each line once. Widths are terminal cells (``rich.cells.cell_len``),
so wide characters line up too.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from schedctl.commands.escape import escape_text

#: A run of text in one style ('' for none); a line is a list of them; a cell, its lines.
Segment = tuple[str, str]
Line = list[Segment]
Cell = list[Line]

#: Spaces between two columns.
GAP = 2
_ANSI = {"green": "32", "yellow": "33", "red": "31", "cyan": "36", "magenta": "35", "dim": "2",
         "bold": "1"}


@dataclass
class Column:
    """A header and one cell per row. A column with a ``floor`` may be folded down to that
    width (or its header's), wrapping its lines at spaces."""

    header: str
    cells: list[Cell]
    floor: int | None = None

    @property
    def foldable(self) -> bool:
        return self.floor is not None


def text_cell(*lines: tuple[str, str]) -> Cell:
    """A cell of one-segment lines: ``text_cell(("every day", ""), ("30 2 * * *", "dim"))``.
    Control characters are escaped: a state file another user wrote may hold them."""
    return [[(escape_text(text, newlines=False), style)] for text, style in lines]


def terminal_width(stream: IO[str]) -> int | None:
    """The width to fit: ``COLUMNS`` when set, else the terminal's; None (no limit) when
    piped, so that scripts get whole lines."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        pass
    return None


def render(columns: Sequence[Column], *, width: int | None, colour: bool) -> str:
    """The table as text, folding foldable columns to fit ``width`` (None: never fold)."""
    measured = [[[_measure(line, colour) for line in cell] for cell in column.cells]
                for column in columns]
    widths = [max([_cells(column.header), *(n for cell in cells for _, n in cell)])
              for column, cells in zip(columns, measured)]
    if width is not None:
        fitted = _fit(columns, widths, width - GAP * (len(columns) - 1))
        for index, column in enumerate(columns):
            if fitted[index] < widths[index]:
                measured[index] = [[_measure(line, colour) for line in
                                    _fold(cell, fitted[index])] for cell in column.cells]
        widths = fitted
    gap = " " * GAP
    header = [(_paint(column.header, "bold", colour), _cells(column.header)) for column in columns]
    lines = [_join([header[i] for i in range(len(columns))], widths, gap)]
    for row in range(len(columns[0].cells) if columns else 0):
        cells = [cells[row] for cells in measured]
        for k in range(max(len(cell) for cell in cells)):
            lines.append(_join([cell[k] if k < len(cell) else ("", 0) for cell in cells], widths, gap))
    return "\n".join(lines) + "\n"


def render_plain(headers: Sequence[str], rows: Sequence[Sequence[Sequence[str]]]) -> str:
    """What :func:`render` writes without colour or a width to fit, from each row's cells
    as lines of plain text, escaped already: piped to a script or a pager, a table of
    1,000 jobs costs a third of the styled one. Each column is measured in one pass, and
    an all-ASCII table (the usual one) is padded by one format string per line."""
    widths = []
    ascii_only = True
    for index, header in enumerate(headers):
        lines = [line for row in rows for line in row[index]]
        if "".join(lines).isascii():
            widths.append(max(len(header), *map(len, lines)) if lines else len(header))
        else:
            ascii_only = False
            widths.append(max([_cells(header), *map(_cells, lines)]))
    gap = " " * GAP
    shape = gap.join(f"{{:<{width}}}" for width in widths)
    ascii_only = ascii_only and "".join(headers).isascii()

    def line_of(texts: Sequence[str]) -> str:
        return shape.format(*texts).rstrip() if ascii_only else _plain_line(texts, widths, gap)

    out = [line_of(headers)]
    for row in rows:
        height = max(map(len, row))
        if height == 1:
            out.append(line_of([cell[0] for cell in row]))
            continue
        for k in range(height):
            out.append(line_of([cell[k] if k < len(cell) else "" for cell in row]))
    return "\n".join(out) + "\n"


def _plain_line(texts: Sequence[str], widths: Sequence[int], gap: str) -> str:
    if "".join(texts).isascii():  # a character is a cell
        return gap.join([text.ljust(width) for text, width in zip(texts, widths)]).rstrip()
    return gap.join([text + " " * (width - _cells(text))
                     for text, width in zip(texts, widths)]).rstrip()


def _measure(line: Line, colour: bool) -> tuple[str, int]:
    """The line as printed and its width in cells. Most lines are one plain segment: that
    case is done inline, since a table of 1,000 jobs has 12,000 lines."""
    if len(line) == 1:
        text, style = line[0]
        width = len(text) if text.isascii() else _cell_len(text)
        if colour and style in _ANSI:
            return f"\033[{_ANSI[style]}m{text}\033[0m", width
        return text, width
    return _text(line, colour), _line_len(line)


def _line_len(line: Line) -> int:
    return sum(_cells(text) for text, _ in line)


def width_of(text: str) -> int:
    """Terminal cells of ``text``."""
    return _cells(text)


def _cells(text: str) -> int:
    return len(text) if text.isascii() else _cell_len(text)


def _cell_len(text: str) -> int:
    # Imported for the first text that is not ASCII: importing rich costs `list` 8 ms.
    from rich.cells import cell_len

    return cell_len(text)


def _fit(columns: Sequence[Column], widths: list[int], room: int) -> list[int]:
    """Narrow the foldable columns, the one with the most to spare first, until the rest fits."""
    floors = [min(max(_cells(c.header), c.floor), w) if c.floor is not None else w
              for c, w in zip(columns, widths)]
    widths = list(widths)
    excess = sum(widths) - room
    while excess > 0:
        spare = [(w - floor, i) for i, (w, floor) in enumerate(zip(widths, floors)) if w > floor]
        if not spare:
            break
        _, index = max(spare)
        widths[index] -= 1
        excess -= 1
    return widths


def _fold(cell: Cell, width: int) -> Cell:
    """Wrap each too-long line at spaces (mid-word only when a word is wider than ``width``);
    the pieces keep the line's style."""
    out: Cell = []
    for line in cell:
        if _line_len(line) <= width or len(line) != 1:
            out.append(line)
            continue
        text, style = line[0]
        pieces = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
        out.extend([[(piece, style)] for piece in pieces])
    return out


def _join(parts: Sequence[tuple[str, int]], widths: Sequence[int], gap: str) -> str:
    return gap.join(text + " " * (width - n) for (text, n), width in zip(parts, widths)).rstrip()


def _text(line: Line, colour: bool) -> str:
    if len(line) == 1:
        text, style = line[0]
        return _paint(text, style, colour)
    return "".join(_paint(text, style, colour) for text, style in line)


def _paint(text: str, style: str, colour: bool) -> str:
    return f"\033[{_ANSI[style]}m{text}\033[0m" if colour and style in _ANSI else text
