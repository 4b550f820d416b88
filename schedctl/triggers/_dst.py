"""Policy C: which instants the matching wall-clock times of a cron schedule stand for.

A *fixed-time* job (minute and hour fields not starting with ``*``) runs once per
matching wall time: on the first pass of a repeated hour, and, when the time falls
into a spring-forward gap, at the transition instant (every gap time collapses
there). A *wildcard* job runs at every matching wall time that exists: gap times
are skipped and repeated times run on both passes.

Schedules supply ``next_wall(naive) -> naive | None``, the first matching wall
time strictly after a wall time. Everything here compares instants in UTC: two
datetimes sharing a zone compare by wall clock and ignore ``fold``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from schedctl.timeutil import EPOCH, UTC

NextWall = Callable[[datetime], "datetime | None"]

#: Wider than any DST shift in use (2 h at Troll), so a repeated hour near ``after`` is seen.
_WINDOW = timedelta(hours=3)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)


def next_instant(
    next_wall: NextWall, tz: tzinfo, wildcard: bool, after: datetime
) -> datetime | None:
    """The earliest fire instant strictly after ``after`` (aware UTC), as aware UTC."""
    wall = _wall(after, tz)
    overlap = _overlap_near(after, tz)
    if overlap is None:
        return _first_pass(next_wall, tz, wildcard, wall, after)
    transition, repeat_start, repeat_end = overlap
    if after < transition:
        first = _first_pass(next_wall, tz, wildcard, wall, after)
        second_from = repeat_start - _MICROSECOND
    else:
        # Wall times before repeat_end were already passed on the first pass.
        first = _first_pass(next_wall, tz, wildcard, max(wall, repeat_end - _MICROSECOND), after)
        second_from = wall
    second = _second_pass(next_wall, tz, second_from, repeat_end) if wildcard else None
    return min((c for c in (first, second) if c is not None), default=None)


def _first_pass(
    next_wall: NextWall, tz: tzinfo, wildcard: bool, start: datetime, after: datetime
) -> datetime | None:
    """The first matching wall time after ``start`` read as its first (or only) instant."""
    while True:
        wall = next_wall(start)
        if wall is None:
            return None
        instant, start = _resolve(wall, tz, wildcard)
        if instant is not None and instant > after:
            return instant


def _second_pass(
    next_wall: NextWall, tz: tzinfo, start: datetime, end: datetime
) -> datetime | None:
    """A wildcard job's run in the second pass of a repeated hour ``[.., end)``."""
    wall = next_wall(start)
    if wall is None or wall >= end:
        return None
    offset = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert offset is not None
    return (wall - offset).replace(tzinfo=UTC)


def _resolve(wall: datetime, tz: tzinfo, wildcard: bool) -> tuple[datetime | None, datetime]:
    """(the instant for ``wall`` or None if skipped, the wall time to search on from)."""
    offset = wall.replace(tzinfo=tz).utcoffset()
    later = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert offset is not None and later is not None
    if offset >= later:  # the wall time exists; fold=0 is its first pass
        return (wall - offset).replace(tzinfo=UTC), wall
    # A gap: the offset before the jump reads ``wall`` after it, the one after reads it before.
    jump = _transition((wall - later).replace(tzinfo=UTC), (wall - offset).replace(tzinfo=UTC), tz)
    resume = max(wall, _wall(jump, tz) - _MICROSECOND)
    return (None if wildcard else jump), resume


def _overlap_near(after: datetime, tz: tzinfo) -> tuple[datetime, datetime, datetime] | None:
    """(transition instant, start, end of the repeated wall times) of a fall-back near ``after``."""
    try:
        before = _offset(after - _WINDOW, tz)
        later = _offset(after + _WINDOW, tz)
    except OverflowError:
        return None
    if before <= later:
        return None
    jump = _transition(after - _WINDOW, after + _WINDOW, tz)
    return jump, (jump + later).replace(tzinfo=None), (jump + before).replace(tzinfo=None)


def _transition(low: datetime, high: datetime, tz: tzinfo) -> datetime:
    """The first whole second in ``(low, high]`` whose offset differs from ``low``'s (bisection)."""
    before = _offset(low, tz)
    low_s, high_s = (low - EPOCH) // _SECOND, -((EPOCH - high) // _SECOND)
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if _offset(EPOCH + middle * _SECOND, tz) == before:
            low_s = middle
        else:
            high_s = middle
    return EPOCH + high_s * _SECOND


def _offset(instant: datetime, tz: tzinfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)
