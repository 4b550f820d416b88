"""The checks every key is made of: text, numbers, true/false, durations, one of a list.

A check takes a marked YAML node and returns a normalized value, or raises
:class:`Bad` with a message that says what is wrong and how to fix it; the caller
adds the file, line, column and key path. The checks of each kind of key are in
:mod:`~schedctl.jobfile.triggerkeys`, :mod:`~schedctl.jobfile.commandkeys` and
:mod:`~schedctl.jobfile.alertkeys`; :mod:`~schedctl.jobfile.keys` names them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from schedctl.jobfile.durations import parse_duration
from schedctl.jobfile.yamlmarks import Field, Node, describe


class Bad(Exception):
    """A value is wrong. ``at``/``suffix`` point inside it (``env.PATH``), else at the value."""

    def __init__(self, message: str, at: Node | Field | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.suffix = suffix


Check = Callable[[Node], Any]


#: Longer durations are typos, and would overflow ``timedelta`` when a trigger adds them.
MAX_DURATION = 100 * 365 * 86_400


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'interval'?`` or, with nothing close, the list to pick from."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" (expected one of: {', '.join(options)})" if len(options) <= 25 else ""


def unknown_key(key: str, choices: Iterable[str]) -> str:
    return f"unknown key {key!r}{did_you_mean(key, choices)}"


def as_text(node: Node) -> str | None:
    """A string value, or the source text of an unquoted scalar (``no``, ``080``, ``true``)."""
    if isinstance(node.value, str):
        return node.value
    if node.text is not None and node.value is not None and not isinstance(node.value, bytes):
        return node.text
    return None


def text(node: Node, what: str = "text") -> str:
    result = as_text(node)
    if result is None:
        raise Bad(f"expected {what}, got {describe(node.value)}")
    return result


def nonempty_text(node: Node, what: str = "text") -> str:
    result = text(node, what)
    if not result.strip():
        raise Bad(f"expected {what}, got an empty string")
    return result


def vetted_text(node: Node, what: str, problem: Callable[[str], str | None]) -> str:
    """Non-empty text that ``problem`` finds nothing wrong with, else its answer as the error:
    for names the CLI checks with the same ``problem`` (a time zone, a node name)."""
    value = nonempty_text(node, what)
    found = problem(value)
    if found:
        raise Bad(found)
    return value


def optional(check: Check) -> Check:
    """``check``, except that null means "not set" (None)."""

    def nullable(node: Node) -> Any:
        return None if node.value is None else check(node)

    nullable.__doc__ = check.__doc__
    return nullable


def mapping(node: Node, what: str = "a mapping") -> dict[str, Any]:
    if not node.is_mapping:
        raise Bad(f"expected {what}, got {describe(node.value)}")
    return dict(node.value)


def check_bool(node: Node) -> bool:
    if isinstance(node.value, bool):
        return node.value
    hint = " (remove the quotes)" if str(node.value).lower() in ("true", "false") else ""
    raise Bad(f"expected true or false, got {describe(node.value)}{hint}")


def check_positive_int(node: Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Bad(f"expected a whole number of 1 or more, got {describe(value)}")
    return value


def check_count(node: Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Bad(f"expected a whole number of 0 or more, got {describe(value)}")
    return value


def choice(what: str, options: tuple[str, ...]) -> Check:
    """A check that takes one of ``options``: ``unknown output mode 'logs' — did you mean 'log'?``"""

    def check(node: Node) -> str:
        name = nonempty_text(node, f"one of {', '.join(options)}").strip()
        if name not in options:
            raise Bad(f"unknown {what} {name!r}{did_you_mean(name, options)}")
        return name

    return check


def check_duration(node: Node) -> float:
    if node.is_mapping or node.is_list:  # parse_duration would print the marked nodes inside
        raise Bad(f"expected a duration such as 90s, 5m or 1h30m, got {describe(node.value)}")
    try:
        seconds = parse_duration(node.value)
    except (TypeError, ValueError) as exc:
        raise Bad(str(exc)) from None
    return within_limit(seconds, describe(node.value))


def within_limit(seconds: float, shown: str) -> float:
    if seconds > MAX_DURATION:
        raise Bad(f"{shown} is longer than 100 years; check the number and its unit")
    return seconds


def check_positive_duration(node: Node) -> float:
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0")
    return seconds


def inside(prefix: str, node: Node, check: Check) -> Any:
    """``check(node)``, with the key path of a problem put under ``prefix``."""
    try:
        return check(node)
    except Bad as bad:
        raise Bad(bad.message, bad.at or node, prefix + bad.suffix) from None
