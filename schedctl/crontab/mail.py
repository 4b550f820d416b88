"""cron's ``MAILTO`` and ``MAILFROM`` as the jobfile's ``on_output``: a ``sendmail`` alert.

cron mails whatever a job prints to ``MAILTO`` (several addresses separated by commas)
through the local ``sendmail``, from ``MAILFROM`` when set; ``MAILTO=""`` mails nobody.
``on_output: [{sendmail: ...}]`` does the same, and ``on_output: []`` turns it off.
A crontab without ``MAILTO`` gets no ``on_output``: the output is logged and kept in the
history (cron would mail it to the crontab's owner).
"""

from __future__ import annotations

from typing import Any

from schedctl.jobfile.alertkeys import check_recipient
from schedctl.jobfile.yamlmarks import Node


def recipients(value: str, line: int) -> list[str]:
    """The addresses of a ``MAILTO`` value (none for ``""``); raises Bad for a bad one."""
    found = [part.strip() for part in value.split(",") if part.strip()]
    return [check_recipient(Node(address, line, 1, address)) for address in found]


def sender(value: str, line: int) -> str | None:
    """The ``MAILFROM`` address, None when empty; raises Bad for a bad one."""
    return check_recipient(Node(value, line, 1, value)) if value.strip() else None


def on_output(to: list[str], sender: str | None) -> list[dict[str, Any]]:
    """The ``on_output`` list that mails a run's output as cron would."""
    if not to:
        return []
    target: str | list[str] = to[0] if len(to) == 1 else to
    if sender is None:
        return [{"sendmail": target}]
    return [{"sendmail": {"to": target, "from": sender}}]
