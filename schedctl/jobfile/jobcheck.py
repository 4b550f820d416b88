"""The rules of one job: what its keys mean together.

Merges ``defaults`` under the job, enforces the rules that span keys (one action,
one trigger, a known executor, an importable ``call``, keys that mean nothing to
this kind of job) and builds the trigger once, turning its ValueError into a
located problem. Per-key checks are in :mod:`schedctl.jobfile.keys`.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from schedctl.jobfile.collect import INVALID, Collector, Entry
from schedctl.jobfile.commandkeys import ACTION_KEYS
from schedctl.jobfile.durations import format_duration
from schedctl.jobfile.keys import JOB_KEYS, check_job_id
from schedctl.jobfile.specs import JobSpec, TriggerSpec
from schedctl.jobfile.triggerkeys import TRIGGER_KEYS
from schedctl.jobfile.values import MAX_DURATION, Bad, did_you_mean
from schedctl.jobfile.yamlmarks import Field, Node, describe

_ONLY_FOR_CALL = ("args", "kwargs")
# Retries are the command runner's: a call: job's function would be run once all the same.
_ONLY_FOR_COMMAND = (
    *("env", "cwd", "stdin", "timeout", "shell", "env_file", "kill_grace", "output"),
    "output_limit", "log_limit",
    "user",
    *("retries", "retry_delay", "backoff", "on_output"),
)
_NOT_FOR_DATE = ("start_date", "end_date", "jitter")
_NOT_FOR_REBOOT = ("start_date", "end_date", "jitter", "catch_up")
_SPEC_DEFAULTS = {f.name: f.default for f in fields(JobSpec)}


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
class JobContext:
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
        self._check_output_captured(merged)

    def _check_output_captured(self, merged: dict[str, Entry]) -> None:
        """``on_output`` sends what was captured: with ``output: inherit`` or ``discard``,
        nothing is, and the alert could never fire."""
        alerts, output = merged.get("on_output"), merged.get("output")
        if not alerts or alerts.value in (INVALID, ()) or not output or output.value in (
                INVALID, "log"):
            return
        entry = output if alerts.from_defaults and not output.from_defaults else alerts
        self.collector.add(entry.field.node, entry.key_path,
                           f"on_output needs output: log (with output: {output.value} nothing "
                           "is captured, so there is never anything to send)")

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
        if key == "user" and self.action == "call":
            return ("user applies only to command: jobs (a call: job runs inside the "
                    "scheduler, as the scheduler's user)")
        if key == "on_output" and self.action == "call":
            return ("on_output applies only to command: jobs (what a call: job prints is not "
                    "captured); use on_failure")
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
    except BaseException as exc:  # noqa: BLE001 - it runs the user's code; all is news
        # Even GeneratorExit or KeyboardInterrupt raised by the module is its problem, not
        # the end of validate (or of a reload) in a traceback.
        said = str(exc) if isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
        return f"cannot import {ref!r}: {said}"
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
