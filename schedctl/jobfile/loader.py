"""The jobfile: YAML with line marks -> frozen dataclasses, every problem reported at once.

A jobfile looks like::

    timezone: Europe/Berlin
    defaults: {misfire_grace_time: 5m}
    executors: {heavy: {type: processpool, max_workers: 2}}
    jobs:
      backup:
        command: /usr/local/bin/backup --all
        cron: "30 2 * * *"
      report:
        call: reports:weekly
        interval: {hours: 1, minutes: 30}

Reading rules worth knowing:

* Keys are read as written: a job ``123:`` gets the id '123' and a job ``on:``
  the id 'on' (YAML 1.1 would make them the integer 123 and True). Job ids are
  made of letters, digits and ``_ . @ : -``, since they are typed on command
  lines. Text fields take unquoted values as written too: ``description: no``,
  ``command: true``, ``env: {PORT: 080, DEBUG: yes}`` give 'no', 'true', '080', 'yes'.
* ``<<: *anchor`` merge keys work; a key written in the mapping itself wins.
* ``defaults`` holds any job key and sits under every job; a job's own key
  wins, ``env`` mappings merge, and a job that names its own action (or
  trigger) drops the default's action (or trigger). Keys from ``defaults``
  that do not apply to a job (``args`` for a command, ``jitter`` for a date)
  are ignored; written in the job itself they are problems.
* Validation builds each job's real trigger, so ``'0 0 30 2 *'`` is refused
  here, with its line, rather than when the scheduler starts; and it imports
  each ``call:`` target (see ``check_imports``). A ``date:`` in the past is fine.
* Null means "not set" for optional keys (``timezone:``, ``cwd:``); for
  ``misfire_grace_time`` null (or ``none``) means "no limit".
* ``on_failure`` and ``on_recovery`` in ``defaults`` apply to every job; a job's
  own list replaces the default one (``on_failure: []`` turns it off).
* ``cron: "@reboot"`` is not a cron trigger but its own kind, ``reboot``: the job
  runs once after each boot of the machine, and has no fire times.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from schedctl.jobfile.yamlmarks import Problem, compose
from schedctl.alerts.core import AlertSpec, CommandAlert, EmailAlert, WebhookAlert
from schedctl.commands.spec import CommandSpec, OutputMode
from schedctl.errors import SchedctlError
from schedctl.schedulers.config import DEFAULT_JOB_OPTIONS

if TYPE_CHECKING:
    from schedctl.triggers.base import BaseTrigger

__all__ = [
    "ExecutorSpec",
    "JobSpec",
    "Jobfile",
    "JobfileError",
    "Problem",
    "TriggerSpec",
    "default_state_path",
    "is_state_url",
    "load_jobfile",
    "parse_jobfile",
    "resolve_state",
]

#: Larger files are refused unread: a jobfile of 1,000 jobs is about 100 KiB.
MAX_BYTES = 1024 * 1024

#: What a job does when its previous run is still going: skip the new run, or stop the old one.
OverlapPolicy = Literal["skip", "replace"]
#: What a node does with a run whose node died (PostgreSQL): at most once, or at least once.
OrphanPolicy = Literal["fail", "rerun"]
#: How a command runs is the runner's to say: JobSpec takes its defaults from CommandSpec.
_COMMAND_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(CommandSpec)}


class JobfileError(SchedctlError):
    """The jobfile cannot be used; ``problems`` lists everything wrong with it, in file order."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class ExecutorSpec:
    """A named pool under ``executors:``."""

    name: str
    type: Literal["threadpool", "processpool"] = "threadpool"
    max_workers: int = 10


@dataclass(frozen=True)
class TriggerSpec:
    """When a job runs, as written: ``value`` is a crontab line or a mapping of cron
    fields (cron), seconds (interval), a datetime, naive when written without an
    offset (date), or ``'@reboot'`` (reboot: once per boot, no fire times)."""

    kind: Literal["cron", "interval", "date", "reboot"]
    value: Any


@dataclass(frozen=True, kw_only=True, repr=False)
class JobSpec:
    """One job of a jobfile, defaults applied. Unset options keep the defaults below.

    Exactly one of ``command`` (a str runs through ``shell -c``, a tuple runs as
    argv) and ``call`` (``'module:qualname'``) is set. ``line`` is where the id is
    written, for messages. ``timezone`` is the job's own zone, else the jobfile's,
    else None (the machine's). ``misfire_grace_time=None`` means a late run always
    runs. A failed run is retried ``retries`` times, the n-th after
    ``retry_delay * backoff ** (n - 1)`` seconds. Not hashable (``env`` and
    ``kwargs`` are dicts): compare :meth:`definition_hash` instead. The repr hides
    env values (alerts hide their own secrets), so a spec can be logged.
    """

    id: str
    trigger: TriggerSpec
    line: int = 0
    description: str | None = None
    command: str | tuple[str, ...] | None = None
    call: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    jitter: float | None = None
    executor: str = "default"
    misfire_grace_time: float | None = DEFAULT_JOB_OPTIONS["misfire_grace_time"]
    coalesce: bool = DEFAULT_JOB_OPTIONS["coalesce"]
    max_instances: int = DEFAULT_JOB_OPTIONS["max_instances"]
    paused: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    shell: str = _COMMAND_DEFAULTS["shell"]
    env_file: str | None = None
    kill_grace: float = _COMMAND_DEFAULTS["kill_grace"]
    output: OutputMode = _COMMAND_DEFAULTS["output"]
    output_limit: int = _COMMAND_DEFAULTS["output_limit"]
    overlap: OverlapPolicy = "skip"
    retries: int = 0
    retry_delay: float = 10.0
    backoff: float = 2.0
    catch_up: bool = False
    on_orphan: OrphanPolicy = "fail"
    on_failure: tuple[AlertSpec, ...] = ()
    on_recovery: tuple[AlertSpec, ...] = ()

    def __repr__(self) -> str:
        shown = _fields(self)
        shown["env"] = dict.fromkeys(self.env, "***")
        return f"JobSpec({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def build_trigger(self, default_timezone: str | tzinfo | None = None) -> BaseTrigger:
        """The engine trigger for this job; ``default_timezone`` applies when neither the
        job nor the jobfile names a zone (None: the machine's).

        Raises the trigger's ValueError/TypeError; :func:`parse_jobfile` has
        already built every trigger once, so for a loaded jobfile it does not.
        """
        zone = self.timezone or default_timezone
        kind, value = self.trigger.kind, self.trigger.value
        if kind == "reboot":
            raise ValueError(
                f"job {self.id!r} runs @reboot: it has no time trigger, it runs once per boot"
            )
        if kind == "date":
            from schedctl.triggers.date import DateTrigger

            return DateTrigger(run_date=value, timezone=zone)
        bounds: dict[str, Any] = {
            "start_date": self.start_date,
            "end_date": self.end_date,
            "timezone": zone,
            "jitter": self.jitter,
        }
        if kind == "interval":
            from schedctl.triggers.interval import IntervalTrigger

            return IntervalTrigger(seconds=value, **bounds)
        from schedctl.triggers.cron import CronTrigger

        if isinstance(value, str):
            return CronTrigger.from_crontab(value, **bounds)
        return CronTrigger(**value, **bounds)

    def definition_hash(self) -> str:
        """sha256 of everything that defines the job (not where it is written), env values included.

        Stable across runs and Python versions; sync compares it with the stored one.
        """
        return _sha256({name: value for name, value in _fields(self).items() if name != "line"})

    def trigger_hash(self) -> str:
        """sha256 of the fields that decide fire times, so sync can tell a changed
        schedule (recompute next_run_time) from changed options (keep it).
        ``catch_up`` and retries are options: they do not move the schedule."""
        keys = ("trigger", "timezone", "start_date", "end_date", "jitter")
        return _sha256({name: _fields(self)[name] for name in keys})


def node_name_problem(name: str) -> str | None:
    """What is wrong with a node name, or None: it is half of every run's owner
    (``node/incarnation``), so it may not hold the separator."""
    if not name.strip():
        return "a node name may not be empty"
    if "/" in name or len(name) > 100 or any(c.isspace() or not c.isprintable() for c in name):
        return (f"a node name may not contain '/' or spaces or be over 100 characters, "
                f"got {name!r}")
    return None


@dataclass(frozen=True)
class ClusterSpec:
    """The ``cluster:`` section: how this node takes part in a PostgreSQL store.

    ``node`` names this node (default: the host name); two live processes may not
    share one. ``lease`` is how long a run stays this node's without a renewal.
    """

    node: str | None = None
    lease: float = 30.0


@dataclass(frozen=True)
class Jobfile:
    """A valid jobfile. ``jobs`` keeps the order of the file."""

    path: str
    timezone: str | None = None
    state: str | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    executors: dict[str, ExecutorSpec] = field(default_factory=dict)
    jobs: dict[str, JobSpec] = field(default_factory=dict)


def _fields(spec: JobSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def _sha256(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=_json_default, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, TriggerSpec):
        return {"kind": value.kind, "value": value.value}
    if isinstance(value, CommandAlert | WebhookAlert | EmailAlert):
        return value.to_dict()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot hash a {type(value).__name__}")  # to_plain yields nothing else


def parse_jobfile(
    text: str | bytes, filename: str = "<jobfile>", *, check_imports: bool = True
) -> Jobfile:
    """Read a jobfile's text; raise :class:`JobfileError` listing every problem in it.

    With ``check_imports`` each ``call:`` target is imported, so a typo is found
    before deploying rather than at 2:30 in the morning; turn it off where the
    jobs' code is not installed (tests, validating on another machine).
    """
    if len(text) > MAX_BYTES:
        raise JobfileError([Problem(filename, 0, 0, "", _too_large(len(text)))])
    if isinstance(text, bytes):
        text = _decode(text, filename)
    root, problems = compose(text, filename)
    if root is None and not problems:
        problems = [Problem(filename, 1, 1, "", "the jobfile is empty; it needs a 'jobs' mapping")]
    if root is None:
        raise JobfileError(problems)
    from schedctl.jobfile.check import assemble  # here: it builds this module's dataclasses

    values, more = assemble(root, filename, check_imports=check_imports)
    problems = sorted(set(problems + more), key=lambda p: (p.line, p.column, p.key_path))
    if problems:
        raise JobfileError(problems)
    return Jobfile(path=filename, **values)


def load_jobfile(path: str | os.PathLike[str], *, check_imports: bool = True) -> Jobfile:
    """Read and validate the jobfile at ``path`` (see :func:`parse_jobfile`).

    An oversized file is refused before it is read, so ``jobs.yaml`` pointing
    at a 50 MB log costs nothing.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise JobfileError([Problem(name, 0, 0, "", _too_large(size))])
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise JobfileError(
            [Problem(name, 0, 0, "", f"cannot read the jobfile: {reason}")]
        ) from None
    return parse_jobfile(data, name, check_imports=check_imports)


def _too_large(size: int) -> str:
    shown = f"{size / 1024 / 1024:.1f} MiB" if size >= 10 * 1024 * 1024 else f"{size:,} bytes"
    return f"the jobfile is {shown}; the limit is 1 MiB"


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        message = f"byte 0x{data[start]:02x} is not UTF-8; save the jobfile as UTF-8"
        raise JobfileError([Problem(filename, line, column, "", message)]) from None


def default_state_path(jobfile_path: str | os.PathLike[str]) -> Path:
    """Where a jobfile's state lives unless told otherwise.

    ``$XDG_STATE_HOME/schedctl/<stem>-<hash>.db`` (``XDG_STATE_HOME`` defaults to
    ``~/.local/state``); the hash of the absolute path keeps two ``jobs.yaml`` in
    different directories from sharing, and thus corrupting, one state store.
    """
    absolute = Path(jobfile_path).expanduser().resolve()
    digest = hashlib.sha256(str(absolute).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    base = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says to ignore a relative value: it would depend on the cwd.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "schedctl" / f"{absolute.stem}-{digest}.db"


def resolve_state(cli_state: str | os.PathLike[str] | None, jobfile: Jobfile) -> Path | str:
    """The state store to use, first found: ``--state``, ``$SCHEDCTL_STATE``, the jobfile's
    ``state:`` (relative to the jobfile's directory, so it does not depend on the cwd),
    then :func:`default_state_path`. ``~`` is expanded in each. A ``postgresql://``
    URL comes back as it is, a str; a file as a Path."""
    if cli_state:
        return _state_location(cli_state)
    from_env = os.environ.get("SCHEDCTL_STATE")
    if from_env:
        return _state_location(from_env)
    if jobfile.state:
        if is_state_url(jobfile.state):
            return jobfile.state
        written = Path(jobfile.state).expanduser()
        return written if written.is_absolute() else Path(jobfile.path).parent / written
    return default_state_path(jobfile.path)


def is_state_url(value: str | os.PathLike[str]) -> bool:
    """Whether a state names a PostgreSQL database rather than an SQLite file."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def _state_location(value: str | os.PathLike[str]) -> Path | str:
    if isinstance(value, str) and is_state_url(value):
        return value
    if isinstance(value, str) and "://" in value:
        raise StateLocationError(value)
    return Path(value).expanduser()


class StateLocationError(SchedctlError):
    """A state that looks like a URL of a store schedctl does not know (a typo, mostly):
    taken as a file path, it would create odd directories and show its password."""

    exit_code = 2

    def __init__(self, value: str) -> None:
        from schedctl.jobstores._pg_schema import redact

        scheme = value.split("://", 1)[0]
        super().__init__(
            f"unsupported state URL {redact(value)} (scheme {scheme!r}): give a file path, "
            "or postgresql://user@host/database for a store several nodes share"
        )