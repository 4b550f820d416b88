"""The rules of a whole jobfile: sections, defaults, and what one job's keys mean together.

Per-key checks are in :mod:`schedctl.jobfile.keys`; this module runs them over the
marked tree, merges ``defaults`` under each job, enforces the rules that span
keys (one action, one trigger, a known executor, an importable ``call``, keys
that mean nothing to this kind of job) and builds every trigger once, turning its
ValueError into a located problem.
Problems are collected, never raised, so one run reports all of them.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from schedctl.jobfile.keys import (
    ACTION_KEYS,
    EXECUTOR_KEYS,
    JOB_KEYS,
    MAX_DURATION,
    TRIGGER_KEYS,
    Bad,
    Check,
    check_job_id,
    check_positive_duration,
    check_timezone,
    did_you_mean,
    nonempty_text,
    optional,
    unknown_key,
)
from schedctl.jobfile.yamlmarks import Field, Node, Problem, describe
from schedctl.jobfile.durations import format_duration
from schedctl.jobfile.loader import ClusterSpec, ExecutorSpec, JobSpec, TriggerSpec, node_name_problem

INVALID: Any = object()  # the value of a key whose check failed (already reported)

TOP_KEYS = ("timezone", "state", "cluster", "defaults", "executors", "jobs")
_ONLY_FOR_CALL = ("args", "kwargs")
# Retries are the command runner's: a call: job's function would be run once all the same.
_ONLY_FOR_COMMAND = (
    *("env", "cwd", "timeout", "shell", "env_file", "kill_grace", "output", "output_limit"),
    *("retries", "retry_delay", "backoff"),
)
_NOT_FOR_DATE = ("start_date", "end_date", "jitter")
_NOT_FOR_REBOOT = ("start_date", "end_date", "jitter", "catch_up")
_SPEC_DEFAULTS = {f.name: f.default for f in fields(JobSpec)}


@dataclass(frozen=True)
class Entry:
    """A checked key: its normalized value (or INVALID), where it was written, and whence."""

    value: Any
    field: Field
    key_path: str
    from_defaults: bool = False


class Collector:
    """Gathers the problems of one file."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []

    def add(self, where: Node | Field, key_path: str, message: str) -> None:
        self.problems.append(Problem(self.filename, where.line, where.column, key_path, message))

    def check(self, node: Node, key_path: str, check: Check) -> Any:
        """``check(node)``, or INVALID after reporting why not."""
        try:
            return check(node)
        except Bad as bad:
            self.add(bad.at or node, key_path + bad.suffix, bad.message)
            return INVALID

    def keys(self, node: Node, path: str, checks: dict[str, Check]) -> dict[str, Entry]:
        """Check every key of a mapping node against ``checks``; unknown keys are problems."""
        entries: dict[str, Entry] = {}
        for key, field in node.value.items():
            key_path = f"{path}.{key}"
            if key not in checks:
                self.add(field, key_path, unknown_key(key, checks))
                continue
            entries[key] = Entry(self.check(field.node, key_path, checks[key]), field, key_path)
        return entries

    def section(self, field: Field, what: str) -> dict[str, Field]:
        """A mapping-valued section; null counts as empty (everything commented out)."""
        if field.node.value is None:
            return {}
        if not field.node.is_mapping:
            self.add(field.node, field.key, f"expected {what}, got {describe(field.node.value)}")
            return {}
        return dict(field.node.value)


def assemble(
    root: Node, filename: str, *, check_imports: bool
) -> tuple[dict[str, Any], list[Problem]]:
    """The keyword arguments of :class:`~schedctl.jobfile.loader.Jobfile` (less ``path``), and the problems."""
    collector = Collector(filename)
    if not root.is_mapping:
        message = f"expected a mapping with a 'jobs' key, got {describe(root.value)}"
        collector.add(root, "", message)
        return {}, collector.problems
    top: dict[str, Field] = root.value
    for key, field in top.items():
        if key not in TOP_KEYS:
            hint = " (job keys go under jobs.<id>, or under defaults)" if key in JOB_KEYS else ""
            collector.add(field, key, unknown_key(key, TOP_KEYS) + hint)
    if "jobs" not in top:
        collector.add(root, "", "no 'jobs' mapping: add one, with a job per key")
    values = {
        "timezone": _top_value(collector, top, "timezone", optional(check_timezone)),
        "state": _top_value(collector, top, "state", optional(_state)),
        "executors": _executors(collector, top.get("executors")),
    }
    if "cluster" in top:
        values["cluster"] = _cluster(collector, top["cluster"])
    file_zone = values["timezone"] if values["timezone"] is not INVALID else None
    defaults = _defaults(collector, top.get("defaults"))
    pools = top.get("executors")  # every name given counts, even one with a bad pool
    names = set(pools.node.value) if pools and pools.node.is_mapping else set()
    context = _JobContext(collector, defaults, file_zone, names, check_imports)
    job_fields = (
        collector.section(top["jobs"], "a mapping of job ids to jobs") if "jobs" in top else {}
    )
    specs = {job_id: context.job(job_id, field) for job_id, field in job_fields.items()}
    values["jobs"] = {job_id: spec for job_id, spec in specs.items() if spec is not None}
    return values, collector.problems


def _top_value(collector: Collector, top: dict[str, Field], key: str, check: Check) -> Any:
    return collector.check(top[key].node, key, check) if key in top else None


def _state(node: Node) -> str:
    value = nonempty_text(node, "the path of the state database, or a postgresql:// URL")
    if "://" in value and not value.startswith(("postgresql://", "postgres://")):
        raise Bad(f"unsupported state URL {value!r}: give a file path, or "
                  "postgresql://user@host/database for a store several nodes share")
    return value


def _node_name(node: Node) -> str:
    value = nonempty_text(node, "a node name")
    problem = node_name_problem(value)
    if problem:
        raise Bad(problem)
    return value


def _lease(node: Node) -> float:
    seconds = check_positive_duration(node)
    if seconds < 1:
        raise Bad(f"a lease under 1s cannot be renewed in time, got {seconds}s")
    return float(seconds)


CLUSTER_KEYS: dict[str, Check] = {"node": optional(_node_name), "lease": _lease}


def _cluster(collector: Collector, field: Field) -> ClusterSpec:
    if not collector.section(field, "a mapping such as {node: web-1, lease: 30s}"):
        return ClusterSpec()
    entries = collector.keys(field.node, "cluster", CLUSTER_KEYS)
    options = {key: entry.value for key, entry in entries.items()}
    if INVALID in options.values():
        return ClusterSpec()
    return ClusterSpec(**options)


def _executors(collector: Collector, field: Field | None) -> dict[str, ExecutorSpec]:
    executors: dict[str, ExecutorSpec] = {}
    if field is None:
        return executors
    for name, pool in collector.section(field, "a mapping of executor names to pools").items():
        path = f"executors.{name}"
        if not pool.node.is_mapping:
            got = describe(pool.node.value)
            collector.add(
                pool.node,
                path,
                f"expected a mapping such as {{type: threadpool, max_workers: 4}}, got {got}",
            )
            continue
        entries = collector.keys(pool.node, path, EXECUTOR_KEYS)
        options = {key: entry.value for key, entry in entries.items()}
        if INVALID not in options.values():
            executors[name] = ExecutorSpec(name, **options)
    return executors


def _defaults(collector: Collector, field: Field | None) -> dict[str, Entry]:
    if field is None or not collector.section(field, "a mapping of job keys"):
        return {}
    entries = collector.keys(field.node, "defaults", JOB_KEYS)
    return {key: replace(entry, from_defaults=True) for key, entry in entries.items()}


def merge_defaults(defaults: dict[str, Entry], own: dict[str, Entry]) -> dict[str, Entry]:
    """``defaults`` under a job's own keys; ``env`` merges, and an own action or trigger
    replaces the default one (a default ``cron`` must not add a second trigger)."""
    inherited = {key: entry for key, entry in defaults.items() if not _overridden(key, own)}
    merged = {**inherited, **own}
    base_env, own_env = inherited.get("env"), own.get("env")
    if base_env and own_env and INVALID not in (base_env.value, own_env.value):
        merged["env"] = replace(own_env, value={**base_env.value, **own_env.value})
    return merged


def _overridden(key: str, own: dict[str, Entry]) -> bool:
    return any(key in group and own.keys() & set(group) for group in (ACTION_KEYS, TRIGGER_KEYS))


_ARGUMENT = re.compile(r"(\w+)(: ?| )")
_TRIGGER_PARTS = ("timezone", "start_date", "end_date", "jitter")
_TRIGGER_ARGS = {
    "start_date": "start_date",
    "end_date": "end_date",
    "timezone": "timezone",
    "jitter": "jitter",
    "run_date": "date",
}


@dataclass
class _JobContext:
    """What checking one job needs from the rest of the file."""

    collector: Collector
    defaults: dict[str, Entry]
    file_zone: str | None
    executors: set[str]
    check_imports: bool

    def job(self, job_id: str, field: Field) -> JobSpec | None:
        """The job's spec, or None after reporting its problems."""
        before, path = len(self.collector.problems), f"jobs.{job_id}"
        try:
            check_job_id(job_id)
        except Bad as bad:
            self.collector.add(field, path, bad.message)
        if not field.node.is_mapping:
            got = describe(field.node.value)
            self.collector.add(
                field, path, f"expected a mapping with an action and a trigger, got {got}"
            )
            return None
        merged = merge_defaults(self.defaults, self.collector.keys(field.node, path, JOB_KEYS))
        action = self._one_of(ACTION_KEYS, merged, field, path, "no action: add command or call")
        trigger = self._one_of(
            TRIGGER_KEYS, merged, field, path, "no trigger: add one of cron, interval, date"
        )
        shape = _Shape.of(merged, action, trigger)
        merged = self._applicable(merged, shape)
        self._cross_checks(merged)
        if trigger is not None and shape.trigger != "reboot":
            self._check_trigger(job_id, merged, trigger)
        if action is None or trigger is None or len(self.collector.problems) > before:
            return None
        return self._spec(job_id, field, merged, action, trigger)

    def _one_of(
        self, keys: tuple[str, ...], merged: dict[str, Entry], field: Field, path: str, missing: str
    ) -> str | None:
        found = [key for key in keys if key in merged]
        if len(found) == 1:
            return found[0]
        if found:
            given = " and ".join(found)
            self.collector.add(
                field, path, f"give exactly one of {', '.join(keys)} (found {given})"
            )
        else:
            self.collector.add(field, path, missing)
        return None

    def _applicable(self, merged: dict[str, Entry], shape: _Shape) -> dict[str, Entry]:
        """Drop keys that mean nothing for this kind of job; report those the job itself set."""
        kept = {}
        for key, entry in merged.items():
            reason = shape.inapplicable(key, entry.value)
            if reason and not entry.from_defaults:
                self.collector.add(entry.field, entry.key_path, reason)
            if not reason:
                kept[key] = entry
        return kept

    def _cross_checks(self, merged: dict[str, Entry]) -> None:
        executor = merged.get("executor")
        if executor and executor.value not in (INVALID, "default", *self.executors):
            defined = sorted({"default", *self.executors})
            hint = did_you_mean(executor.value, defined)
            if not hint.startswith(" —"):
                hint = f" (defined: {', '.join(defined)})"
            message = f"unknown executor {executor.value!r}; define it under executors{hint}"
            self.collector.add(executor.field.node, executor.key_path, message)
        call = merged.get("call")
        if self.check_imports and call and call.value is not INVALID:
            problem = _import_problem(call.value)
            if problem:
                self.collector.add(call.field.node, call.key_path, problem)
        self._check_retry_waits(merged)

    def _check_retry_waits(self, merged: dict[str, Entry]) -> None:
        """The last retry's wait must stay a sane duration (and within what a wait accepts)."""
        values = {key: _value(merged, key) for key in ("retries", "retry_delay", "backoff")}
        if INVALID in values.values() or values["retries"] == 0:
            return
        retries, delay, backoff = values["retries"], values["retry_delay"], values["backoff"]
        try:
            longest = delay * backoff ** (retries - 1)
        except OverflowError:
            longest = math.inf
        if longest <= MAX_DURATION:
            return
        own = [merged[key] for key in values if key in merged and not merged[key].from_defaults]
        entry = (own or [merged[key] for key in values if key in merged])[0]
        self.collector.add(
            entry.field.node,
            entry.key_path,
            f"with retry_delay {format_duration(delay)} and backoff {backoff:g}, the wait "
            f"before retry {retries} would be longer than 100 years; lower retries or backoff",
        )

    def _spec(
        self, job_id: str, field: Field, merged: dict[str, Entry], action: str, trigger: str
    ) -> JobSpec:
        options = {k: e.value for k, e in merged.items() if k not in ACTION_KEYS + TRIGGER_KEYS}
        zone = options.pop("timezone", None) or self.file_zone
        value = merged[trigger].value
        spec = TriggerSpec("reboot", "@reboot") if _is_reboot(trigger, value) else None
        return JobSpec(
            id=job_id,
            line=field.line,
            trigger=spec or TriggerSpec(trigger, value),  # type: ignore[arg-type]
            timezone=zone,
            **{action: merged[action].value},
            **options,
        )

    def _check_trigger(self, job_id: str, merged: dict[str, Entry], trigger: str) -> None:
        """Build the real trigger once: its own checks (``'0 0 30 2 *'`` never fires,
        end before start) then surface here, at the line that causes them."""
        parts = {key: merged[key].value for key in _TRIGGER_PARTS if key in merged}
        if INVALID in parts.values() or merged[trigger].value is INVALID:
            return  # already reported; building would only repeat it
        zone = parts.pop("timezone", None) or self.file_zone
        spec = JobSpec(
            id=job_id,
            trigger=TriggerSpec(trigger, merged[trigger].value),  # type: ignore[arg-type]
            timezone=zone,
            **parts,
        )
        try:
            spec.build_trigger()
        except (ValueError, TypeError, OverflowError) as exc:
            where, key_path, message = _locate(str(exc), merged, merged[trigger])
            self.collector.add(where, key_path, message)


@dataclass(frozen=True)
class _Shape:
    """What kind of job this is, as far as its keys tell: which keys mean something to it."""

    action: str | None  # command, call, or None when there is not exactly one
    trigger: str | None  # cron, interval, date, reboot, or None
    argv: bool  # a command written as a list, run without a shell

    @classmethod
    def of(cls, merged: dict[str, Entry], action: str | None, trigger: str | None) -> _Shape:
        command = merged["command"].value if action == "command" else None
        if trigger is not None and _is_reboot(trigger, merged[trigger].value):
            trigger = "reboot"
        return cls(action, trigger, isinstance(command, tuple))

    def inapplicable(self, key: str, value: Any) -> str | None:
        """Why ``key: value`` means nothing to this job, or None."""
        if key in _ONLY_FOR_CALL and self.action == "command":
            return f"{key} is only for call: jobs (a command takes its arguments in the command)"
        if key in _ONLY_FOR_COMMAND and self.action == "call":
            return f"{key} applies only to command: jobs"
        if key == "overlap" and value == "replace" and self.action == "call":
            return "overlap: replace needs a command: job (a running call cannot be stopped)"
        if key == "on_orphan" and value == "rerun" and self.action == "call":
            return ("on_orphan: rerun needs a command: job (only a command's run can be "
                    "guarded, so that two copies never run at once)")
        if key == "shell" and self.argv:
            return "shell applies only to a one-line command (a list runs without a shell)"
        if key in _NOT_FOR_DATE and self.trigger == "date":
            return f"{key} does not apply to a date trigger (it fires once, at its date)"
        if key in _NOT_FOR_REBOOT and self.trigger == "reboot":
            return f"{key} does not apply to an @reboot job (it runs once after each boot)"
        return None


def _is_reboot(trigger: str, value: Any) -> bool:
    return trigger == "cron" and isinstance(value, str) and value.strip().lower() == "@reboot"


def _value(merged: dict[str, Entry], key: str) -> Any:
    """The job's value for ``key``, written or the JobSpec default."""
    return merged[key].value if key in merged else _SPEC_DEFAULTS[key]


def _import_problem(ref: str) -> str | None:
    """Why ``module:qualname`` cannot be imported and called, or None."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - it runs the user's code; all is news
        return f"cannot import {ref!r}: {exc}"
    if not callable(obj):
        return f"{ref!r} is a {type(obj).__name__}, not a function"
    return None


def _locate(message: str, merged: dict[str, Entry], trigger: Entry) -> tuple[Node, str, str]:
    """Where a trigger's complaint belongs: messages start with the argument they are about
    (``jitter: ...``, ``hour: ...``); that key, or else the trigger itself."""
    match = _ARGUMENT.match(message)
    if not match:
        return trigger.field.node, trigger.key_path, message
    name, separator = match.groups()
    rest = message[match.end() :] if ":" in separator else message
    fields = trigger.field.node.value if trigger.field.node.is_mapping else {}
    if _TRIGGER_ARGS.get(name) in merged:
        entry = merged[_TRIGGER_ARGS[name]]
        return entry.field.node, entry.key_path, rest
    if name in fields:
        return fields[name].node, f"{trigger.key_path}.{name}", rest
    return trigger.field.node, trigger.key_path, message
