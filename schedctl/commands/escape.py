"""What a job prints is data: made visible, never able to pass for a log line or steer a
terminal.

A job's output reaches logs (text, the journal) and terminals (``history --output``).
Raw, a carriage return could overwrite the start of a line, an escape sequence could
recolour it, set a terminal's clipboard (OSC 52) or retitle its window, and a Unicode
line separator could start what a reader takes for a new log line. So control characters
(C0 but TAB and line feed, DEL, C1), the Unicode line and paragraph separators and the
bidirectional overrides are written as escapes (``\\r``, ``\\x1b``, ``\\u2028``).
"""

from __future__ import annotations

import os
import re
from typing import IO

_NAMED = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x08": "\\b", "\x07": "\\a"}


def _escape_of(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: Everything that is escaped: C0 controls but TAB and LF, DEL and C1 (U+0085 among them),
#: the line and paragraph separators, and the bidirectional embeddings, overrides and isolates.
_ESCAPED = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)), 0x7F, *range(0x80, 0xA0),
    0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
]
_TABLE = {code: _escape_of(code) for code in _ESCAPED}
_TABLE_WITHOUT_LF = {**_TABLE, 0x0A: "\\n"}


def _char_class(codes: list[int]) -> str:
    """``codes`` as a regular expression's character class of ranges: compiled at every
    start of every command, a class of 77 single characters cost twice as much."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}"
                         for low, high in ranges) + "]"


_NEEDS = re.compile(_char_class(_ESCAPED))
_NEEDS_WITH_LF = re.compile(_NEEDS.pattern[:-1] + "\\n]")


def escape_text(text: str, *, newlines: bool = True) -> str:
    """``text`` with every character above written as an escape; line feeds are kept (the
    caller splits at them) unless ``newlines`` is False, when they are escaped too."""
    if not (_NEEDS if newlines else _NEEDS_WITH_LF).search(text):
        return text  # the usual case, found at C speed
    return text.translate(_TABLE if newlines else _TABLE_WITHOUT_LF)


def wants_colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    try:
        return stream.isatty() and "NO_COLOR" not in os.environ
    except (AttributeError, ValueError):
        return False
