"""Cron schedules in plain words, for the CLI: simple and right, or None to show the expression.

Works on field texts: the normalized crontab fields (numbers, L, LW, nL, D#n; weekday
0 and 7 are Sunday) or the resolved keyword fields (names allowed, weekday 0 is
Monday, 'last fri' style days, day and day_of_week ANDed).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping

from schedctl.triggers._common import join_words
from schedctl.triggers._cronfields import MONTH_NAMES, WEEKDAY_NAMES, ordinal

Word = Callable[[str], "str | None"]

_SUNDAY_FIRST = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_MONDAY_FIRST = _SUNDAY_FIRST[1:]
_RANK_WORDS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth"}
_KEYWORD_DAY = re.compile(
    r"(?P<rank>[1-5])(?:st|nd|rd|th) (?P<weekday>[a-z]+)$|last (?P<last>[a-z]+)$"
)


def describe_fields(fields: Mapping[str, str], keyword: bool) -> str | None:
    """``at 02:30 every day``, ``every 5 minutes``, ``at 00:00 on Monday to Friday``, or None."""
    if keyword and (fields["year"] != "*" or fields["week"] != "*"):
        return None
    clock = _clock(fields["second"], fields["minute"], fields["hour"])
    if clock is None:
        return None
    phrase, daily = clock
    days = _days(fields["day"], fields["day_of_week"], fields["month"], keyword, daily)
    if days is None:
        return None
    return f"{phrase} {days}".strip()


def _clock(second: str, minute: str, hour: str) -> tuple[str, bool] | None:
    """(the time-of-day phrase, whether it names fixed times of the day)."""
    seconds, minutes, hours = _numbers(second), _numbers(minute), _numbers(hour)
    if (
        seconds
        and len(seconds) == 1
        and minutes
        and len(minutes) == 1
        and hours
        and len(hours) <= 6
    ):
        tail = f":{seconds[0]:02}" if seconds[0] else ""
        return "at " + join_words([f"{h:02}:{minutes[0]:02}{tail}" for h in hours]), True
    if hour == "*" and minute == "*":
        return ("every minute", False) if seconds == [0] else _every(second, "second")
    if seconds != [0]:
        return None
    if hour == "*":
        if minutes:
            shown = join_words([str(m) for m in minutes])
            return (
                ("every hour", False)
                if minutes == [0]
                else (f"every hour at minute {shown}", False)
            )
        return _every(minute, "minute")
    step = _step(hour)
    if step and minutes and len(minutes) == 1:
        every = _every(hour, "hour")
        assert every is not None
        return every if minutes == [0] else (f"{every[0]} at minute {minutes[0]}", False)
    return None


def _every(text: str, unit: str) -> tuple[str, bool] | None:
    step = _step(text)
    if step is None:
        return None
    return (f"every {unit}" if step == 1 else f"every {step} {unit}s"), False


def _step(text: str) -> int | None:
    if text == "*":
        return 1
    match = re.fullmatch(r"\*/(\d+)", text)
    return int(match.group(1)) if match else None


def _numbers(text: str) -> list[int] | None:
    parts = text.split(",")
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None


def _days(dom: str, dow: str, month: str, keyword: bool, daily: bool) -> str | None:
    months = None if month == "*" else _items(month, _month_word)
    if month != "*" and months is None:
        return None
    if dom == "*" and dow == "*":
        if months is None:
            return "every day" if daily else ""
        return ("every day in " if daily else "in ") + months
    dom_words = None if dom == "*" else _dom_words(dom, keyword)
    dow_words = None if dow == "*" else _items(dow, _weekday_word(keyword))
    if (dom != "*" and dom_words is None) or (dow != "*" and dow_words is None):
        return None
    if dom_words and dow_words:
        if keyword:  # ANDed: rare enough to leave to the expression
            return None
        either = f"on {dom_words} of the month or on {dow_words}"
        return either + (f", in {months}" if months else "")
    if dom_words:
        return f"on {dom_words} of {months or 'the month'}"
    return f"on {dow_words}" + (f" in {months}" if months else "")


def _dom_words(text: str, keyword: bool) -> str | None:
    """``the 1st and 15th``, ``the last day``, ``the third Friday`` (keyword ranks)."""
    shown = _items(text, _keyword_day_word if keyword else _crontab_day_word)
    return f"the {shown}" if shown else None


def _crontab_day_word(token: str) -> str | None:
    special = {"L": "last day", "LW": "last weekday"}.get(token)
    return special or (ordinal(int(token)) if token.isdigit() else None)


def _keyword_day_word(token: str) -> str | None:
    match = _KEYWORD_DAY.match(token)
    if match:
        weekday = _keyword_weekday(match.group("weekday") or match.group("last"))
        rank = _RANK_WORDS.get(match.group("rank") or "", "last")
        return f"{rank} {weekday}" if weekday else None
    return "last day" if token == "last" else _crontab_day_word(token)


def _items(text: str, word: Word) -> str | None:
    """Comma items, each a value or a range, in words; None for steps and other forms."""
    words = []
    for item in text.split(","):
        special = _crontab_weekday_special(item) if word is _crontab_weekday else None
        first, _, last = item.partition("-")
        names = [special] if special else [word(first)] + ([word(last)] if last else [])
        if "/" in item or None in names:
            return None
        words.append(" to ".join(n for n in names if n))
    return join_words(words)


def _crontab_weekday_special(item: str) -> str | None:
    """``5L`` and ``5#3``: the last or n-th weekday of the month."""
    if item.endswith("L") and item[:-1].isdigit():
        return f"the last {_SUNDAY_FIRST[int(item[:-1])]} of the month"
    weekday, _, nth = item.partition("#")
    if nth in _RANK_WORDS and weekday.isdigit():
        return f"the {_RANK_WORDS[nth]} {_SUNDAY_FIRST[int(weekday)]} of the month"
    return None


def _month_word(token: str) -> str | None:
    if token.isdigit():
        return calendar.month_name[int(token)] if 1 <= int(token) <= 12 else None
    return calendar.month_name[MONTH_NAMES.index(token) + 1] if token in MONTH_NAMES else None


def _crontab_weekday(token: str) -> str | None:
    return _SUNDAY_FIRST[int(token)] if token.isdigit() and int(token) <= 7 else None


def _keyword_weekday(token: str) -> str | None:
    if token.isdigit():
        return _MONDAY_FIRST[int(token)] if int(token) <= 6 else None
    return _MONDAY_FIRST[WEEKDAY_NAMES.index(token)] if token in WEEKDAY_NAMES else None


def _weekday_word(keyword: bool) -> Word:
    return _keyword_weekday if keyword else _crontab_weekday
