"""The checks of the keys that say what a job runs and how: command or call, its
environment, output and retries."""

from __future__ import annotations

import difflib
import math
import pwd
import re
from typing import Any, get_args

from schedctl.commands.spec import OutputMode
from schedctl.jobfile.values import Bad, as_text, mapping, nonempty_text
from schedctl.jobfile.yamlmarks import Node, describe, to_plain

ACTION_KEYS = ("command", "call")
OUTPUT_MODES: tuple[str, ...] = get_args(OutputMode)
#: ``k`` is 1024 bytes, as in ``64k``; a ``b``, ``kb`` or ``KiB`` suffix reads the same.
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|b)?\s*", re.IGNORECASE)
#: The largest output tail a run may keep: it is held in memory and written to the run history.
MAX_OUTPUT_LIMIT = 64 * 1024**2
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def check_backoff(node: Node) -> float:
    """The factor each retry's wait grows by: 1 keeps the waits equal."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise Bad(f"expected a number of 1 or more (2 doubles each wait), got {describe(value)}")
    if math.isinf(value):
        raise Bad("backoff must be a finite number")
    return float(value)


def parse_size(value: object) -> int:
    """Bytes in ``value``: a whole number, or text such as ``512``, ``64k``, ``1.5m``, ``1MiB``.

    Units are binary (``k`` = 1024). Raises ValueError saying how to write a size.
    """
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if match is None:
        raise ValueError(
            f"expected a size in bytes such as 65536, 64k or 1m, got {describe(value)}"
        )
    size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    if size != int(size):
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(size)


def check_output_limit(node: Node) -> int:
    try:
        size = parse_size(node.value)
    except ValueError as exc:
        raise Bad(str(exc)) from None
    if size > MAX_OUTPUT_LIMIT:
        raise Bad(
            f"{describe(node.value)} is more than 64m, the most a run may keep "
            "(the tail is held in memory and stored in the run history)"
        )
    return size


def check_stdin(node: Node) -> str:
    """Text the command reads on its standard input (cron's ``%`` lines), kept exactly."""
    result = as_text(node)
    if result is None:
        raise Bad(f"expected the text to give the command on stdin, got {describe(node.value)}")
    return result


def check_log_limit(node: Node) -> int:
    """Output logged per run (``log_limit``): streamed, never held, so any size."""
    try:
        return parse_size(node.value)
    except ValueError as exc:
        raise Bad(str(exc)) from None


def check_directory(node: Node) -> str:
    """A working directory, kept as written (relative ones are the runner's to resolve)."""
    return nonempty_text(node, "a directory")


def check_command(node: Node) -> str | tuple[str, ...]:
    """A shell line (run by /bin/sh -c) or an argv list (run without a shell)."""
    if node.is_list:
        if not node.value:
            raise Bad("the command list is empty; give the program and its arguments")
        argv = tuple(_argv_item(item, index) for index, item in enumerate(node.value))
        if not argv[0].strip():
            raise Bad("the program name is empty", node.value[0], "[0]")
        return argv
    return nonempty_text(node, "a command line or a list of arguments")


def _argv_item(item: Node, index: int) -> str:
    result = as_text(item)
    if result is None:
        raise Bad(f"expected text, got {describe(item.value)}", item, f"[{index}]")
    return result


def check_call(node: Node) -> str:
    ref = nonempty_text(node, "'module:function'").strip()
    if not _CALL_REF.fullmatch(ref):
        raise Bad(f"{ref!r} is not a function reference; write it as 'package.module:function'")
    return ref


def check_args(node: Node) -> tuple[Any, ...]:
    if node.value is None:
        return ()
    if not node.is_list:
        raise Bad(f"expected a list of arguments, got {describe(node.value)}")
    return tuple(to_plain(item) for item in node.value)


def check_kwargs(node: Node) -> dict[str, Any]:
    if node.value is None:
        return {}
    fields = mapping(node, "a mapping of keyword arguments")
    for key, field in fields.items():
        if not key.isidentifier():
            raise Bad(f"{key!r} is not a Python argument name", field, f".{key}")
    return {key: to_plain(field.node) for key, field in fields.items()}


def check_env(node: Node) -> dict[str, str]:
    """Variable names to values; numbers and booleans are kept as written (``080``, ``yes``)."""
    if node.value is None:
        return {}
    env: dict[str, str] = {}
    for name, field in mapping(node, "a mapping of variable names to values").items():
        if not _ENV_NAME.fullmatch(name):
            raise Bad(
                f"{name!r} is not a variable name (letters, digits and _, not starting with a digit)",
                field,
                f".{name}",
            )
        value = as_text(field.node)
        if value is None:
            got = describe(field.node.value)
            hint = " (write '' for an empty value)" if field.node.value is None else ""
            raise Bad(f"expected a text value, got {got}{hint}", field, f".{name}")
        env[name] = value
    return env


def check_shell(node: Node) -> str:
    return nonempty_text(node, "the path of a shell, such as /bin/bash")


def check_env_file(node: Node) -> str:
    """Kept as written: the file is read at each run, so it need not exist yet."""
    return nonempty_text(node, "the path of a file of KEY=VALUE lines")


def check_user(node: Node) -> str:
    """A user in this machine's password database: the command runs as that user."""
    name = nonempty_text(node, "a user name, such as www-data").strip()
    try:
        pwd.getpwnam(name)
    except KeyError:
        known = [entry.pw_name for entry in pwd.getpwall()]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}, or " if close else ""
        raise Bad(f"no user {name!r} on this machine; {hint}create it first (useradd {name})"
                  ) from None
    return name
