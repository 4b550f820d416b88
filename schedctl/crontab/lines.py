"""The lines of a crontab file, as the parser classifies them.

Every line is kept, with its number and original text, so the jobfile writer can
quote it beside the job it became and so problems point at ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Line:
    """One line of a crontab file: where it is, and its text without the line break."""

    filename: str
    number: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.number}"


@dataclass(frozen=True)
class Blank(Line):
    """An empty or all-blank line."""


@dataclass(frozen=True)
class Comment(Line):
    """A line whose first non-blank character is ``#``; ``body`` is the text after it."""

    body: str = ""


@dataclass(frozen=True)
class Assignment(Line):
    """``NAME=value``: it applies to the entries below it, until set again."""

    name: str = ""
    value: str = ""


@dataclass(frozen=True)
class Entry(Line):
    """A job: ``schedule`` is five fields joined by one space, or a macro such as ``@daily``.

    ``command`` is what runs (``\\%`` already made ``%``); ``stdin`` is the text after the
    first unescaped ``%`` with each further ``%`` made a newline, or None when there was
    no ``%``. ``user`` is the system format's user column.
    """

    schedule: str = ""
    command: str = ""
    stdin: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class BadLine(Line):
    """A line cron would refuse; ``column`` (1-based) is where the trouble starts."""

    reason: str = ""
    column: int = 1


@dataclass
class Crontab:
    """One parsed crontab file; ``system`` says it has a user column, ``owner`` names the
    user a crontab of cron's spool belongs to (cron runs its lines as that user)."""

    filename: str
    system: bool
    lines: list[Line] = field(default_factory=list)
    owner: str | None = None

    @property
    def entries(self) -> list[Entry]:
        return [line for line in self.lines if isinstance(line, Entry)]
