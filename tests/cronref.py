"""A reference model of Debian cron's schedule, written from the rules alone, for the tests.

It shares no code with schedctl's triggers: fields are expanded to sets here, days are
walked one by one, and the DST rules of tests/data/triggers.json's README (rule C) are
applied to each matching wall time. Slow but plain: fine for a thousand fire times.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (low, high, names) of minute, hour, day of month, month, day of week.
FIELDS = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, {n: i + 1 for i, n in enumerate(MONTHS)}),
          (0, 7, {n: i for i, n in enumerate(DAYS)})]


def expand(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        part, _, step = item.partition("/")
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-")
            first = names.get(a, None) if a in names else int(a)
            last = 7 if names and b == "sun" else (names[b] if b in names else int(b))
        else:
            first = names[part] if part in names else int(part)
            last = high if step else first  # N/S means N-max/S
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


class Schedule:
    """One crontab time spec: which wall times match, and whether it is a wildcard job."""

    def __init__(self, spec: str) -> None:
        spec = MACROS.get(spec.lower(), spec)
        fields = spec.split()
        sets = [expand(text, *FIELDS[index]) for index, text in enumerate(fields)]
        self.minutes, self.hours, self.days, self.months, weekdays = sets
        self.weekdays = {day % 7 for day in weekdays}  # 7 is Sunday too
        self.star_day = fields[2].startswith("*") or fields[4].startswith("*")
        self.wildcard = fields[0].startswith("*") or fields[1].startswith("*")

    def day_matches(self, day: date) -> bool:
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        both = in_days and in_weekdays
        return day.month in self.months and (both if self.star_day else in_days or in_weekdays)

    def wall_times(self, start: date) -> Iterator[datetime]:
        day = start
        while True:
            if day.month not in self.months:  # on to the 1st of the next month
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        yield datetime.combine(day, time(hour, minute))
            day += timedelta(days=1)


def _exists(wall: datetime, zone: tzinfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def _after_gap(wall: datetime, zone: tzinfo) -> datetime:
    """The instant the clocks jumped over ``wall``: the first wall time that exists after it."""
    probe = wall.replace(second=0)
    while not _exists(probe, zone):
        probe += timedelta(minutes=1)
    return probe.replace(tzinfo=zone).astimezone(UTC)


def fire_times(spec: str, zone: tzinfo, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` fire instants (UTC) strictly after ``after``, by rule C."""
    schedule = Schedule(spec)
    start = after.astimezone(zone).date() - timedelta(days=1)
    found: set[datetime] = set()
    cutoff = None
    for wall in schedule.wall_times(start):
        if not _exists(wall, zone):
            instants = [] if schedule.wildcard else [_after_gap(wall, zone)]
        else:
            first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
            instants = [first, second] if schedule.wildcard else [first]
        found.update(instant for instant in instants if instant > after)
        if cutoff is None and len(found) >= count:
            cutoff = sorted(found)[count - 1]
        # A repeated hour's second pass comes after later wall times: go on for a while.
        if cutoff is not None and wall.replace(tzinfo=zone).astimezone(UTC) > cutoff + HOURS_3:
            break
    return sorted(found)[:count]


HOURS_3 = timedelta(hours=3)
