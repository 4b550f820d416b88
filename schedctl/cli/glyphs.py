"""Small pictures of the history: a strip of outcomes (``✔✔✘⏭…``) and a sparkline of
durations (``▁▂▇▃``), each with an ASCII twin for terminals without UTF-8 and for
``NO_COLOR`` (where colour no longer tells a success from a failure, the ASCII letters do).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

from schedctl.state.history import FAILURES, NEVER_STARTED, REPLACED

#: state -> (glyph, ASCII glyph, style)
_OUTCOMES = {
    "success": ("✔", "+", "green"),
    "running": ("…", "*", "cyan"),
    **{state: ("⏭", ">", "yellow") for state in NEVER_STARTED},  # "-" is "no run yet"
    **{state: ("✘", "x", "red") for state in FAILURES},
}
_OUTCOMES[REPLACED] = ("↷", "~", "yellow")
_OUTCOMES["interrupted"] = ("✘", "x", "magenta")
_OUTCOMES["orphaned"] = ("✘", "x", "magenta")
_OTHER = ("·", "?", "")

_BARS = "▁▂▃▄▅▆▇█"
_ASCII_BARS = "_.,-=+*#"

#: What the strip's glyphs mean, for help texts and the docs.
LEGEND = ("✔ success, ✘ failure, ⏭ missed or skipped, ↷ replaced, … running (ASCII: + x > ~ *);"
          " - no run yet")


def wants_unicode(stream: IO[str]) -> bool:
    """UTF-8 pictures only when both the stream and the locale speak UTF-8, and NO_COLOR is
    unset: a terminal under ``LANG=C`` shows them as garbage."""
    if "NO_COLOR" in os.environ:
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8":
        return False
    return "utf8" in _locale_name().lower().replace("-", "")


def _locale_name() -> str:
    """The character set locale the user chose. Python itself sets ``LC_CTYPE=C.UTF-8``
    over a C locale (PEP 538), which says nothing of the terminal: that one is ignored."""
    env = os.environ
    fallback = env.get("LANG", "")
    ctype = env.get("LC_CTYPE", "")
    if ctype == "C.UTF-8" and fallback in ("", "C", "POSIX"):
        ctype = ""
    return env.get("LC_ALL") or ctype or fallback


def outcome_glyphs(states: Sequence[str], unicode: bool) -> list[tuple[str, str]]:
    """One ``(glyph, style)`` per state, in the order given (newest last)."""
    picked = []
    for state in states:
        glyph, ascii_glyph, style = _OUTCOMES.get(state, _OTHER)
        picked.append((glyph if unicode else ascii_glyph, style))
    return picked


def sparkline(values: Sequence[float], unicode: bool) -> str:
    """One bar per value, scaled from the smallest to the largest."""
    bars = _BARS if unicode else _ASCII_BARS
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return bars[0] * len(values)
    return "".join(bars[min(int((value - low) / span * len(bars)), len(bars) - 1)] for value in values)
