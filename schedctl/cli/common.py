"""Options and helpers shared by the commands: finding the state file, parsing durations."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from schedctl.jobfile.durations import parse_duration
from schedctl.errors import SchedctlError

if TYPE_CHECKING:
    from schedctl.state.history import RunHistory
    from schedctl.jobstores._sqlstore import SQLJobStore

F = TypeVar("F", bound=Callable[..., Any])

#: The most upcoming runs ``next -n`` and ``validate -n`` compute: each costs a step of the
#: trigger, so a mistyped 100000000 would run for minutes.
MAX_RUNS_SHOWN = 10_000
#: The most runs ``history -n`` shows: all a store keeps of 1,000 jobs, and a number
#: SQLite can take (a larger one ended in a traceback).
MAX_HISTORY_SHOWN = 1_000_000

#: Only the ``state:`` key is wanted from a jobfile here; the loader's own size limit.
MAX_JOBFILE_BYTES = 1024 * 1024
_STATE_LINE = re.compile(r"^state:[ \t]*([^#\n]+)", re.MULTILINE)


class UsageError(SchedctlError):
    exit_code = 2


class StateMissingError(SchedctlError):
    """The state file named does not exist: no scheduler has run on it (``status`` tells
    this apart from an error, as "not running")."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"state file {path} does not exist yet; 'schedctl run' creates it")
        self.path = path


def state_options(func: F) -> F:
    """``--state PATH|URL`` and ``-f/--jobfile FILE``: the two ways to name a state store."""
    func = click.option(
        "-f", "--jobfile", type=click.Path(dir_okay=False), envvar="SCHEDCTL_JOBFILE",
        help="Jobfile whose state to use (the one its last 'schedctl run' used, else its "
             "'state:' key or the default path). "
             "[env: SCHEDCTL_JOBFILE]",
    )(func)
    return click.option(
        "--state", type=click.Path(dir_okay=False), metavar="FILE|URL", envvar="SCHEDCTL_STATE",
        help="State file (SQLite), or postgresql://user@host/db for a store shared by "
             "several nodes. [env: SCHEDCTL_STATE]",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def find_state(state: str | None, jobfile: str | None) -> str:
    """The state from --state, else from the jobfile: a PostgreSQL URL, or a file that
    must exist already."""
    from schedctl.jobfile.statelocation import StateLocationError, is_state_url

    if state and is_state_url(state):
        return state
    if state and "://" in state:
        raise StateLocationError(state)
    if state:
        path = Path(state).expanduser()
    elif jobfile:
        found = _state_of_jobfile(jobfile)
        if isinstance(found, str):
            return found
        path = found
    else:
        raise UsageError(
            "no state file given: use --state PATH or -f JOBFILE (or set SCHEDCTL_STATE)"
        )
    from schedctl.state.runlock import check_in_use

    check_in_use(os.fspath(path))  # never claim a change the running scheduler cannot see
    if not path.exists():
        raise StateMissingError(path)
    return os.fspath(path)


def open_state(state: str | None, jobfile: str | None) -> tuple[SQLJobStore, RunHistory]:
    from schedctl.state.history import RunHistory
    from schedctl.state.stores import open_store

    store = open_store(find_state(state, jobfile))
    return store, RunHistory(store)


def _state_of_jobfile(jobfile: str) -> Path | str:
    """The state the last ``run`` of the jobfile recorded it used, if it is still there;
    else the state file the jobfile names. A jobfile broken since the scheduler loaded it
    must not stop ``list`` or ``history``: then only its top-level ``state:`` line is read."""
    from schedctl.crontab.build import load_any
    from schedctl.jobfile.loader import is_state_url, resolve_state
    from schedctl.jobfile.specs import Jobfile
    from schedctl.state.where import recorded_state

    recorded = recorded_state(jobfile)  # run --state: where the scheduler really is
    if recorded is not None and (is_state_url(recorded) or os.path.exists(recorded)):
        return recorded if is_state_url(recorded) else Path(recorded)
    try:  # a crontab too: 'run' gave its jobs the ids 'import' would
        return resolve_state(None, load_any(jobfile, check_imports=False))
    except SchedctlError:  # unreadable or invalid: read the state: line alone below
        pass
    try:
        with open(jobfile, encoding="utf-8", errors="replace") as stream:
            text = stream.read(MAX_JOBFILE_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read the jobfile {jobfile}: {exc.strerror or exc}") from None
    match = _STATE_LINE.search(text)
    state = match.group(1).strip().strip("'\"") if match else None
    return resolve_state(None, Jobfile(path=jobfile, state=state or None))


class ListenAddressType(click.ParamType):
    """``127.0.0.1:9746``, ``:9746`` or a unix socket path."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from schedctl.jobfile.addresses import ListenAddress, parse_listen_address

        if isinstance(value, ListenAddress):
            return value
        try:
            return parse_listen_address(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class TimeBound(click.ParamType):
    """A point in time: a duration back from now (``7d``, ``12h``), or a date and time
    (``2026-03-01``, ``'2026-03-01 14:00'``, ISO 8601), in the machine's zone unless it
    carries an offset."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        from schedctl.clock import SystemClock
        from schedctl.timeutil import convert_to_datetime, get_localzone

        text = str(value).strip()
        try:
            return SystemClock().now() - timedelta(seconds=parse_duration(text))
        except (ValueError, OverflowError):
            pass
        try:
            when = convert_to_datetime(text, get_localzone(), "when")
        except (ValueError, TypeError, OverflowError):
            when = None
        if when is None:
            self.fail(f"{text!r} is neither a duration back from now (7d, 12h) nor a date and "
                      "time (2026-03-01, '2026-03-01 14:00')", param, ctx)
        return when


class Duration(click.ParamType):
    """``90s``, ``5m``, ``1h30m``, or seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
