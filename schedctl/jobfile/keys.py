"""One small check per jobfile key: a marked YAML node in, a normalized value out.

Each check raises :class:`Bad` with a message that says what is wrong and how to
fix it; the caller adds the file, line, column and key path. Checks see one key
only; rules that involve several keys (one trigger, known executor) live in
:mod:`schedctl.jobfile.check`.
"""

from __future__ import annotations

import difflib
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import date, datetime
from email.utils import parseaddr
from functools import cache
from typing import Any, get_args

from schedctl.jobfile.yamlmarks import Field, Node, describe, to_plain
from schedctl.alerts.core import (
    AlertSpec,
    AlertSpecError,
    CommandAlert,
    EmailAlert,
    WebhookAlert,
    is_port,
    url_problem,
)
from schedctl.commands.spec import OutputMode
from schedctl.jobfile.durations import parse_duration
from schedctl.jobfile.loader import OrphanPolicy, OverlapPolicy


class Bad(Exception):
    """A value is wrong. ``at``/``suffix`` point inside it (``env.PATH``), else at the value."""

    def __init__(self, message: str, at: Node | Field | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.suffix = suffix


Check = Callable[[Node], Any]

ACTION_KEYS = ("command", "call")
TRIGGER_KEYS = ("cron", "interval", "date")
CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_UNIT_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
INTERVAL_UNITS = tuple(_UNIT_SECONDS)
#: Longer durations are typos, and would overflow ``timedelta`` when a trigger adds them.
MAX_DURATION = 100 * 365 * 86_400
EXECUTOR_TYPES = ("threadpool", "processpool")
OUTPUT_MODES: tuple[str, ...] = get_args(OutputMode)
OVERLAP_POLICIES: tuple[str, ...] = get_args(OverlapPolicy)
ORPHAN_POLICIES: tuple[str, ...] = get_args(OrphanPolicy)
ALERT_KINDS = ("command", "webhook", "email")
_ALERT_ITEM_KEYS = (*ALERT_KINDS, "timeout")
WEBHOOK_KEYS = ("url", "timeout", "headers")
EMAIL_KEYS = ("host", "port", "starttls", "username", "password", "from", "to", "timeout")
#: ``k`` is 1024 bytes, as in ``64k``; a ``b``, ``kb`` or ``KiB`` suffix reads the same.
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|b)?\s*", re.IGNORECASE)
#: The largest output tail a run may keep: it is held in memory and written to the run history.
MAX_OUTPUT_LIMIT = 64 * 1024**2
_LOOKS_LIKE_DATE = re.compile(r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d)?)?$")
_JOB_ID = re.compile(r"[A-Za-z0-9_.@:-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EMAIL_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'interval'?`` or, with nothing close, the list to pick from."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f" (expected one of: {', '.join(options)})" if len(options) <= 25 else ""


def unknown_key(key: str, choices: Iterable[str]) -> str:
    return f"unknown key {key!r}{did_you_mean(key, choices)}"


def check_job_id(job_id: str) -> None:
    if not job_id:
        raise Bad("a job id must not be empty")
    if not _JOB_ID.fullmatch(job_id):
        raise Bad(
            f"job id {job_id!r} may contain only letters, digits and _ . @ : - "
            "(it names the job on the command line and in the state store)"
        )


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


def check_backoff(node: Node) -> float:
    """The factor each retry's wait grows by: 1 keeps the waits equal."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise Bad(f"expected a number of 1 or more (2 doubles each wait), got {describe(value)}")
    if math.isinf(value):
        raise Bad("backoff must be a finite number")
    return float(value)


def choice(what: str, options: tuple[str, ...]) -> Check:
    """A check that takes one of ``options``: ``unknown output mode 'logs' — did you mean 'log'?``"""

    def check(node: Node) -> str:
        name = nonempty_text(node, f"one of {', '.join(options)}").strip()
        if name not in options:
            raise Bad(f"unknown {what} {name!r}{did_you_mean(name, options)}")
        return name

    return check


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


def check_duration(node: Node) -> float:
    if node.is_mapping or node.is_list:  # parse_duration would print the marked nodes inside
        raise Bad(f"expected a duration such as 90s, 5m or 1h30m, got {describe(node.value)}")
    try:
        seconds = parse_duration(node.value)
    except (TypeError, ValueError) as exc:
        raise Bad(str(exc)) from None
    return _within_limit(seconds, describe(node.value))


def _within_limit(seconds: float, shown: str) -> float:
    if seconds > MAX_DURATION:
        raise Bad(f"{shown} is longer than 100 years; check the number and its unit")
    return seconds


def check_positive_duration(node: Node) -> float:
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0")
    return seconds


def check_grace_time(node: Node) -> float | None:
    """Seconds a late run may still start; null or 'none' lifts the limit."""
    if node.value is None or (isinstance(node.value, str) and node.value.lower() == "none"):
        return None
    seconds = check_duration(node)
    if seconds <= 0:
        raise Bad("must be longer than 0 (use none for no limit)")
    return seconds


def check_timezone(node: Node) -> str:
    name = nonempty_text(node, "a time zone name such as Europe/Berlin")
    if not _zone_exists(name):
        raise Bad(f"unknown timezone {name!r}{_zone_hint(name)}")
    return name


def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone_hint(name: str) -> str:
    if name.lower() == "local":
        return " (leave timezone out to use the machine's zone)"
    zones = _all_zones()
    for zone in zones:
        if zone.lower() == name.lower():
            return f" — did you mean {zone!r}?"
    close = difflib.get_close_matches(name, zones, n=1, cutoff=0.75)
    return f" — did you mean {close[0]!r}?" if close else ""


@cache
def _all_zones() -> list[str]:
    """Every zone name; read from disk only when a name is wrong, since that is slow."""
    return sorted(zoneinfo.available_timezones())


def check_datetime(node: Node) -> datetime:
    """A YAML timestamp, a date (midnight) or an ISO text such as 2026-12-01T09:00."""
    value = node.value
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raw = text(node, "a date such as 2026-12-01T09:00")
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        if _LOOKS_LIKE_DATE.match(raw.strip()):  # then the reason (day 30 of February) helps
            raise Bad(f"{raw!r} is not a valid date/time: {exc}") from None
        raise Bad(
            f"{raw!r} is not a date/time (write it as 2026-12-01T09:00 or 2026-12-01 09:00:00+01:00)"
        ) from None


def check_executor_name(node: Node) -> str:
    return nonempty_text(node, "an executor name").strip()


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


def check_cron(node: Node) -> str | dict[str, str]:
    """A crontab line (5 fields, 6 with seconds first, or @daily) or a mapping of fields."""
    if not node.is_mapping:
        return nonempty_text(node, "a crontab line such as '30 2 * * *' or a mapping of fields")
    fields = node.value
    if not fields:
        raise Bad(f"the cron mapping is empty; give some of: {', '.join(CRON_FIELDS)}")
    result: dict[str, str] = {}  # 2 becomes '2': the trigger reads text, and hashes stay stable
    for key, field in fields.items():
        if key not in CRON_FIELDS:
            if key in JOB_KEYS:
                message = f"{key!r} is not a cron field but a job key: move it out of cron"
            else:
                message = unknown_key(key, CRON_FIELDS)
            raise Bad(message, field, f".{key}")
        result[key] = _cron_field_text(field.node, key)
    return result


def _cron_field_text(node: Node, key: str) -> str:
    result = as_text(node)  # as written: YAML 1.1 would read minute 010 as octal 8
    if result is None or not result.strip():
        raise Bad(
            f"expected a number or a cron expression, got {describe(node.value)}", node, f".{key}"
        )
    return result


def check_interval(node: Node) -> float:
    """Seconds between runs, from ``5m`` or ``{hours: 1, minutes: 30}``."""
    seconds = _interval_mapping(node) if node.is_mapping else check_duration(node)
    if seconds <= 0:
        raise Bad("interval must be longer than 0")
    return seconds


def _interval_mapping(node: Node) -> float:
    total = 0.0
    for key, field in node.value.items():
        if key not in INTERVAL_UNITS:
            raise Bad(unknown_key(key, INTERVAL_UNITS), field, f".{key}")
        amount = field.node.value
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0:
            raise Bad(
                f"expected a number of 0 or more, got {describe(amount)}", field.node, f".{key}"
            )
        total += check_duration(field.node) * _UNIT_SECONDS[key]
    return _within_limit(total, "the interval")


def check_shell(node: Node) -> str:
    return nonempty_text(node, "the path of a shell, such as /bin/bash")


def check_env_file(node: Node) -> str:
    """Kept as written: the file is read at each run, so it need not exist yet."""
    return nonempty_text(node, "the path of a file of KEY=VALUE lines")


# --- on_failure / on_recovery


def check_alerts(node: Node) -> tuple[AlertSpec, ...]:
    """A list of ``- command: ...``, ``- webhook: ...`` and ``- email: {...}`` items."""
    if node.value is None:
        return ()
    if not node.is_list:
        hint = " (start each alert with '- ')" if node.is_mapping else ""
        raise Bad(f"expected a list of alerts, got {describe(node.value)}{hint}")
    return tuple(_inside(f"[{index}]", item, _alert) for index, item in enumerate(node.value))


def _inside(prefix: str, node: Node, check: Check) -> Any:
    """``check(node)``, with the key path of a problem put under ``prefix``."""
    try:
        return check(node)
    except Bad as bad:
        raise Bad(bad.message, bad.at or node, prefix + bad.suffix) from None


def _alert(node: Node) -> AlertSpec:
    if not node.is_mapping:
        raise Bad(f"expected an alert such as {{webhook: https://...}}, got {describe(node.value)}")
    fields: dict[str, Field] = node.value
    _known_keys(fields, _ALERT_ITEM_KEYS)
    kinds = [key for key in ALERT_KINDS if key in fields]
    if len(kinds) != 1:
        found = f" (found {' and '.join(kinds)})" if kinds else ""
        raise Bad(f"give exactly one of {', '.join(ALERT_KINDS)}{found}")
    kind = kinds[0]
    if kind != "command" and "timeout" in fields:
        message = f"a {kind} alert's timeout goes inside it: {kind}: {{..., timeout: 10s}}"
        raise Bad(message, fields["timeout"], ".timeout")
    try:
        if kind == "command":
            return CommandAlert(**_options(fields, _COMMAND_ALERT_CHECKS))
        if kind == "webhook":
            return _inside(".webhook", fields["webhook"].node, _webhook)
        return _inside(".email", fields["email"].node, _email)
    except AlertSpecError as exc:  # the alert's own checks; the ones here should catch all first
        raise Bad(str(exc)) from None


def _known_keys(fields: dict[str, Field], known: tuple[str, ...]) -> None:
    for key, field in fields.items():
        if key not in known:
            raise Bad(unknown_key(key, known), field, f".{key}")


def _required(fields: dict[str, Field], keys: tuple[str, ...], what: str) -> None:
    missing = [key for key in keys if key not in fields]
    if missing:
        raise Bad(f"missing {' and '.join(missing)}: {what} needs {', '.join(keys)}")


def _options(fields: dict[str, Field], checks: dict[str, Check]) -> dict[str, Any]:
    """The checked values of the keys given; the alert classes hold the defaults."""
    return {
        key: _inside(f".{key}", field.node, checks[key])
        for key, field in fields.items()
        if key in checks
    }


def _webhook(node: Node) -> WebhookAlert:
    if not node.is_mapping:
        return WebhookAlert(check_url(node))
    fields: dict[str, Field] = node.value
    _known_keys(fields, WEBHOOK_KEYS)
    _required(fields, ("url",), "a webhook")
    return WebhookAlert(**_options(fields, _WEBHOOK_CHECKS))


def _email(node: Node) -> EmailAlert:
    fields = mapping(node, "a mapping with host, from and to")
    _known_keys(fields, EMAIL_KEYS)
    _required(fields, ("host", "from", "to"), "an email alert")
    options = _options(fields, _EMAIL_CHECKS)
    if ("username" in options) != ("password" in options):
        given = "username" if "username" in options else "password"
        raise Bad("give both username and password, or neither", fields[given], f".{given}")
    options["from_addr"] = options.pop("from")
    return EmailAlert(**options)


def check_url(node: Node) -> str:
    """An http(s) URL. Messages never quote it: webhook URLs often carry a token."""
    url = nonempty_text(node, "an http:// or https:// URL").strip()
    problem = url_problem(url)
    if problem:
        raise Bad(problem)
    return url


def check_headers(node: Node) -> dict[str, str]:
    """Header names to values. Messages never quote a value: it is often a credential."""
    headers: dict[str, str] = {}
    for name, field in mapping(node, "a mapping of header names to values").items():
        if not _HEADER_NAME.fullmatch(name):
            raise Bad(f"{name!r} is not an HTTP header name", field, f".{name}")
        value = as_text(field.node)
        if value is None or "\n" in value or "\r" in value:
            got = "a line break" if value is not None else describe(field.node.value)
            raise Bad(f"expected the header's value on one line, got {got}", field.node, f".{name}")
        headers[name] = value
    return headers


def check_host(node: Node) -> str:
    host = nonempty_text(node, "a host name such as smtp.example.com").strip()
    if any(char.isspace() for char in host):
        raise Bad(f"{host!r} is not a host name")
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:  # not an IPv6 address
        raise Bad(f"give the port on its own: host: {name}, port: {port}")
    return host


def check_port(node: Node) -> int:
    if not is_port(node.value):
        raise Bad(f"expected a port number from 1 to 65535, got {describe(node.value)}")
    port: int = node.value
    return port


def check_address(node: Node) -> str:
    """``ops@example.com`` or ``Ops <ops@example.com>``."""
    address = nonempty_text(node, "an email address").strip()
    if "\n" in address or "\r" in address or not _EMAIL_ADDRESS.fullmatch(parseaddr(address)[1]):
        raise Bad(f"{address!r} is not an email address (expected name@example.com)")
    return address


def check_addresses(node: Node) -> tuple[str, ...]:
    """One address, or a list of them."""
    if not node.is_list:
        return (check_address(node),)
    if not node.value:
        raise Bad("the list of recipients is empty")
    return tuple(
        _inside(f"[{index}]", item, check_address) for index, item in enumerate(node.value)
    )


_COMMAND_ALERT_CHECKS: dict[str, Check] = {
    "command": check_command,
    "timeout": check_positive_duration,
}
_WEBHOOK_CHECKS: dict[str, Check] = {
    "url": check_url,
    "timeout": check_positive_duration,
    "headers": check_headers,
}
_EMAIL_CHECKS: dict[str, Check] = {
    "host": check_host,
    "port": check_port,
    "starttls": check_bool,
    "username": nonempty_text,
    "password": text,
    "from": check_address,
    "to": check_addresses,
    "timeout": check_positive_duration,
}


#: The keys of an entry under ``executors``; defaults live in ExecutorSpec.
EXECUTOR_KEYS: dict[str, Check] = {
    "type": choice("executor type", EXECUTOR_TYPES),
    "max_workers": check_positive_int,
}

#: Every key a job (and ``defaults``) may have, with its check. Defaults live in JobSpec.
JOB_KEYS: dict[str, Check] = {
    "description": optional(text),
    "command": check_command,
    "call": check_call,
    "args": check_args,
    "kwargs": check_kwargs,
    "cron": check_cron,
    "interval": check_interval,
    "date": check_datetime,
    "timezone": optional(check_timezone),
    "start_date": optional(check_datetime),
    "end_date": optional(check_datetime),
    "jitter": optional(check_duration),
    "executor": check_executor_name,
    "misfire_grace_time": check_grace_time,
    "coalesce": check_bool,
    "max_instances": check_positive_int,
    "paused": check_bool,
    "env": check_env,
    "cwd": optional(check_directory),
    "timeout": optional(check_positive_duration),
    "shell": check_shell,
    "env_file": optional(check_env_file),
    "kill_grace": check_duration,
    "output": choice("output mode", OUTPUT_MODES),
    "output_limit": check_output_limit,
    "overlap": choice("overlap policy", OVERLAP_POLICIES),
    "retries": check_count,
    "retry_delay": check_duration,
    "backoff": check_backoff,
    "catch_up": check_bool,
    "on_orphan": choice("orphan policy", ORPHAN_POLICIES),
    "on_failure": check_alerts,
    "on_recovery": check_alerts,
}
