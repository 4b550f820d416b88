"""Log lines on stderr: plain or coloured text for people, JSON for machines, and
syslog-priority lines without timestamps when journald is the reader.

No text a job controls can pass for one of schedctl's lines: every message is escaped
(``commands/escape.py``: CR, ESC and the other controls, U+2028 and its kin), records
are split only at line feeds, and a record's further lines are indented, so only a
record's first line starts like a log line. A line of a job's output (the ``output``
event) starts with ``[job]`` where an event has its job id and a colon; in JSON it
carries ``"event": "output"``.

The handler sits on the root logger, so every record of the process goes through one
formatter: schedctl's own, and those of a ``call:`` job that uses ``logging`` (which
would otherwise make Python install its ``WARNING:root:...`` default on first use and
break a JSON stream). Text lines carry the local time with its ISO offset.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any, Literal

from schedctl.commands.escape import escape_text, wants_colour
from schedctl.executors.base import current_run

LogFormat = Literal["text", "json", "journal"]

#: Fields the event log attaches to records (``extra=``) and JSON lines carry.
EVENT_FIELDS = ("job_id", "event", "scheduled_for", "duration", "exit_code", "signal", "outcome",
                "requested_by", "uid")

_COLOURS = {logging.DEBUG: "\033[2m", logging.WARNING: "\033[33m", logging.ERROR: "\033[31m",
            logging.CRITICAL: "\033[1;31m"}
_RESET = "\033[0m"

# syslog priorities for sd-daemon(3) prefixes.
_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
               logging.CRITICAL: 2}


class TextFormatter(logging.Formatter):
    """``2026-11-24 17:40:01+01:00 WARNING backup: missed 2 runs``; coloured on a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = _stamp(record.created)
        first, *rest = _lines(self, record)
        line = "\n".join([f"{stamp} {record.levelname:<7} {first}", *rest])
        if self.colour and record.levelno in _COLOURS:
            return f"{_COLOURS[record.levelno]}{line}{_RESET}"
        return line


class JournalFormatter(logging.Formatter):
    """``<3>backup: failed (exit 1)``: journald adds the time and reads the priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITIES.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in _lines(self, record))


#: How a record's second and later lines start: never like a record's first line.
CONTINUATION = "  "


def _lines(formatter: logging.Formatter, record: logging.LogRecord) -> list[str]:
    """The record's message (and traceback) as lines split at line feeds only (never at
    the other characters str.splitlines takes), escaped, the later ones indented."""
    text = _message(record)
    if record.exc_info:
        text += "\n" + formatter.formatException(record.exc_info)
    first, *rest = escape_text(text.rstrip("\n")).split("\n")
    return [first, *(CONTINUATION + line for line in rest)]


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the event fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EVENT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class RunTag(logging.Filter):
    """Tags a record logged inside a job (a ``call:`` job's own ``logging``) with the job's
    id, which the JSON lines carry as ``job_id`` and the text lines put first."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            run = current_run()
            if run is not None:
                record.job_id = run.job_id
                record.from_job = True
        return True


def _message(record: logging.LogRecord) -> str:
    """The message, led by its job's id when the job itself logged it."""
    text = record.getMessage()
    return f"{getattr(record, 'job_id', '')}: {text}" if getattr(record, "from_job", False) else text


def log_time(when: datetime) -> str:
    """A time as the text log shows it: local, to the second, with its ISO offset
    (``2026-11-24 17:40:01+01:00``), so a line read elsewhere is never ambiguous."""
    return _stamp(when.timestamp())


#: Text stamps of recent seconds. Turning a time into local time costs 11 µs, and a run
#: writes two or three in the same second; keyed on the zone too, so a ``time.tzset()``
#: that changes it is seen at once.
_STAMPS: dict[tuple[int, int, int, tuple[str, str]], str] = {}


def _stamp(epoch: float) -> str:
    key = (math.floor(epoch), time.timezone, time.altzone, time.tzname)
    stamp = _STAMPS.get(key)
    if stamp is None:
        if len(_STAMPS) >= 256:
            _STAMPS.clear()
        when = datetime.fromtimestamp(key[0], UTC).astimezone()
        stamp = _STAMPS[key] = when.isoformat(sep=" ", timespec="seconds")
    return stamp


def choose_format(requested: str | None, stream: IO[str]) -> LogFormat:
    """``--log-format`` wins; else journald's format under journald, else text."""
    if requested in ("text", "json", "journal"):
        return requested  # type: ignore[return-value]
    if _under_journald(stream):
        return "journal"
    return "text"


def _under_journald(stream: IO[str]) -> bool:
    """True when stderr is the journal stream systemd gave us (JOURNAL_STREAM=dev:ino)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


#: The handler setup_logging installed, so a second call replaces it and nothing else.
_HANDLER_MARK = "_schedctl_handler"

#: The format the last setup_logging chose (None before any).
_chosen: LogFormat | None = None


def _skip_unused_record_fields() -> None:
    """Every record goes through these formatters, which read no source location, thread
    or process: logging stops looking them up (the logging HOWTO's "Optimization"), a
    stack walk and three lookups per record, two records per run."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def setup_logging(
    log_format: str | None = None, *, stream: IO[str] | None = None, level: int = logging.INFO
) -> LogFormat:
    """Send every log record of the process to ``stream`` (stderr) in the chosen format.

    schedctl's own loggers log from ``level`` (INFO); others, a ``call:`` job's included,
    from WARNING, Python's default, so libraries' chatter stays out.
    """
    stream = stream or sys.stderr
    chosen = choose_format(log_format, stream)
    _skip_unused_record_fields()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(chosen, stream))
    handler.addFilter(RunTag())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    own = logging.getLogger("schedctl")
    for old in list(own.handlers):  # an earlier setup's own handler would print twice
        if getattr(old, _HANDLER_MARK, False):
            own.removeHandler(old)
    own.setLevel(level)
    own.propagate = True
    global _chosen
    _chosen = chosen
    return chosen



def current_format() -> LogFormat | None:
    """The format setup_logging chose, for worker processes to log the same way."""
    return _chosen


def formatter_for(chosen: LogFormat, stream: IO[str]) -> logging.Formatter:
    if chosen == "json":
        return JsonFormatter()
    if chosen == "journal":
        return JournalFormatter()
    return TextFormatter(colour=wants_colour(stream))
