"""What a valid jobfile becomes: frozen dataclasses, and the policies their fields take.

The loader and the checks build these; the service, the state and the cluster read
them. This module imports no other part of the jobfile, so everything can import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from schedctl.alerts.ping import PingSpec
from schedctl.alerts.spec import AlertSpec
from schedctl.commands.spec import CommandSpec, OutputMode
from schedctl.jobfile.digests import sha256
from schedctl.schedulers.config import DEFAULT_JOB_OPTIONS

if TYPE_CHECKING:
    from schedctl.jobfile.addresses import ListenAddress
    from schedctl.triggers.base import BaseTrigger

__all__ = [
    "ClusterSpec",
    "ExecutorSpec",
    "JobSpec",
    "Jobfile",
    "MetricsSpec",
    "OrphanPolicy",
    "OverlapPolicy",
    "TriggerSpec",
    "node_name_problem",
]


#: What a job does when its previous run is still going: skip the new run, or stop the old one.
OverlapPolicy = Literal["skip", "replace"]
#: What a node does with a run whose node died (PostgreSQL): at most once, or at least once.
OrphanPolicy = Literal["fail", "rerun"]
#: How a command runs is the runner's to say: JobSpec takes its defaults from CommandSpec.
_COMMAND_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(CommandSpec)}


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


#: Keys added after state files existed, with their defaults: left out of the hash while
#: at them, so that upgrading schedctl does not count every stored job as changed.
_NEWER_KEYS: dict[str, Any] = {
    "stdin": None, "ping": None, "user": None, "on_output": (),
    "log_limit": _COMMAND_DEFAULTS["log_limit"],
}


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
    stdin: str | None = None
    timeout: float | None = None
    shell: str = _COMMAND_DEFAULTS["shell"]
    env_file: str | None = None
    kill_grace: float = _COMMAND_DEFAULTS["kill_grace"]
    output: OutputMode = _COMMAND_DEFAULTS["output"]
    output_limit: int = _COMMAND_DEFAULTS["output_limit"]
    user: str | None = None
    log_limit: int = _COMMAND_DEFAULTS["log_limit"]
    overlap: OverlapPolicy = "skip"
    retries: int = 0
    retry_delay: float = 10.0
    backoff: float = 2.0
    catch_up: bool = False
    on_orphan: OrphanPolicy = "fail"
    on_failure: tuple[AlertSpec, ...] = ()
    on_recovery: tuple[AlertSpec, ...] = ()
    on_output: tuple[AlertSpec, ...] = ()
    ping: PingSpec | None = None

    def __repr__(self) -> str:
        shown = _fields(self)
        shown["env"] = dict.fromkeys(self.env, "***")
        return f"JobSpec({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def build_trigger(self, default_timezone: str | tzinfo | None = None) -> BaseTrigger:
        """The engine trigger for this job; ``default_timezone`` applies when neither the
        job nor the jobfile names a zone (None: the machine's).

        Raises the trigger's ValueError/TypeError, and ValueError for a schedule that
        can never fire (which the Python API accepts); :func:`parse_jobfile` has
        already built every trigger once, so for a loaded jobfile it does not.
        """
        trigger = self._build_trigger(default_timezone)
        reason = trigger.never_fires()
        if reason is not None:
            raise ValueError(reason)
        return trigger

    def _build_trigger(self, default_timezone: str | tzinfo | None) -> BaseTrigger:
        from schedctl.timeutil import get_localzone

        # Named here, so an aware start_date never lends the trigger its fixed offset.
        zone = self.timezone or default_timezone or get_localzone()
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
        return _sha256({name: value for name, value in _fields(self).items()
                        if name != "line" and not (name in _NEWER_KEYS and value == _NEWER_KEYS[name])})

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
class MetricsSpec:
    """The ``metrics:`` section: where ``schedctl run`` serves /metrics and /healthz.
    ``where`` is the address's ``file:line:column: metrics.listen``, for a refusal to name."""

    listen: ListenAddress
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class Jobfile:
    """A valid jobfile. ``jobs`` keeps the order of the file."""

    path: str
    timezone: str | None = None
    state: str | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    metrics: MetricsSpec | None = None  # None: nothing listens
    executors: dict[str, ExecutorSpec] = field(default_factory=dict)
    jobs: dict[str, JobSpec] = field(default_factory=dict)


def _fields(spec: JobSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def _sha256(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=_json_default, ensure_ascii=False)
    return sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, TriggerSpec):
        return {"kind": value.kind, "value": value.value}
    if isinstance(value, AlertSpec | PingSpec):
        return value.to_dict()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot hash a {type(value).__name__}")  # to_plain yields nothing else
