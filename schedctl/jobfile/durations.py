"""Durations as people write them in a jobfile (``90s``, ``5m``, ``1h30m``, ``2d``) and back.

Jobfiles, the CLI and alerts all speak this one format, so it lives here and
nowhere else. Parsing is strict on purpose: ``5M`` (months? minutes?) and
``5 minutes`` are refused with a suggestion rather than guessed at.
"""

from __future__ import annotations

import math
import re

#: Unit -> seconds, largest first: the order units must appear in (``1h30m``, not ``30m1h``).
UNITS: dict[str, float] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1, "ms": 0.001}

_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|[wdhms])")
_PLAIN_NUMBER = re.compile(rf"\s*[+]?({_NUMBER})\s*")
_WORDY = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]+)\.?\s*")

#: Words people write for a unit, for the "try 5m" hint.
_UNIT_WORDS = {
    "w": ("w", "wk", "wks", "week", "weeks"),
    "d": ("d", "day", "days"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "m": ("m", "min", "mins", "minute", "minutes"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "ms": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
}
_HINT = "use a number of seconds or units w, d, h, m, s, ms, as in 90s, 5m, 1h30m, 2d"


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number of seconds or text like ``90s``, ``1h30m``, ``1.5h``, ``500ms``.

    Raises ValueError with a suggestion (``'5 minutes' is not a duration (try 5m)``)
    for text that is not a duration and for negative or infinite values, and
    TypeError for values that are neither numbers nor text.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a duration such as 90s, 5m or 1h30m, got {_kind(value)}")
    try:
        seconds = _parse_text(value) if isinstance(value, str) else float(value)
    except OverflowError:  # float() of an int with hundreds of digits
        seconds = math.inf
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{_short(value)} is not a duration (too large or not a number)")
    if seconds < 0:
        raise ValueError(f"{_short(value)} is negative; a duration is 0 or more")
    return seconds


def _parse_text(text: str) -> float:
    if text.strip().startswith("-"):
        raise ValueError(f"{_short(text)} is negative; a duration is 0 or more")
    plain = _PLAIN_NUMBER.fullmatch(text)
    if plain:
        return float(plain.group(1))
    total, position, last_rank = 0.0, 0, -1
    order = list(UNITS)
    while position < len(text):
        match = _PART.match(text, position)
        if not match:
            raise ValueError(f"{_short(text)} is not a duration ({_suggest(text)})")
        rank = order.index(match.group(2))
        if rank <= last_rank:
            raise ValueError(
                f"{_short(text)} is not a duration (give each unit once, largest first, as in 1h30m)"
            )
        total += float(match.group(1)) * UNITS[match.group(2)]
        position, last_rank = match.end(), rank
        if not text[position:].strip():
            break
    if last_rank < 0:
        raise ValueError(f"{_short(text)} is not a duration ({_HINT})")
    return total


def _suggest(text: str) -> str:
    """``try 5m`` when ``text`` reads like a number and a unit word, else the general hint."""
    match = _WORDY.fullmatch(text)
    if match:
        word = match.group(2)
        word = word.lower() if len(word) > 1 else word  # 5M could mean months: no hint
        for unit, words in _UNIT_WORDS.items():
            if word in words:
                return f"try {match.group(1)}{unit}"
    return _HINT


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{type(value).__name__} {_short(value)}"


def format_duration(seconds: float) -> str:
    """The shortest text ``parse_duration`` reads back as ``seconds`` (to the millisecond).

    ``5400 -> '1h30m'``, ``0.5 -> '500ms'``, ``0 -> '0s'``; used by the CLI to show
    intervals and grace times the way a jobfile would spell them.
    """
    if isinstance(seconds, bool) or math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(
            f"{seconds!r} is not a duration (expected a finite number of seconds >= 0)"
        )
    remaining = round(seconds * 1000)  # whole milliseconds, the finest unit written
    parts = []
    for unit, size in UNITS.items():
        unit_ms = round(size * 1000)
        count, remaining = divmod(remaining, unit_ms)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
