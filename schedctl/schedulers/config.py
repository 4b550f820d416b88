"""Scheduler configuration: keyword options, or a flat dict of ``schedctl.``-prefixed texts.

Config files give every value as text ('false', '20'), so values are coerced
here, once; plugins are named by a short ``type`` or a ``class`` reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedctl.refs import ref_to_obj

EXECUTOR_TYPES = {
    "threadpool": "schedctl.executors.pool:ThreadPoolExecutor",
    "processpool": "schedctl.executors.pool:ProcessPoolExecutor",
    "debug": "schedctl.executors.debug:DebugExecutor",
}
JOBSTORE_TYPES = {
    "memory": "schedctl.jobstores.memory:MemoryJobStore",
    "sqlite": "schedctl.jobstores.sqlite:SQLiteJobStore",
    "postgresql": "schedctl.jobstores.postgresql:PostgreSQLJobStore",
}

#: Cron-friendly job defaults. A run late by up to a minute still happens (cron's
#: own resolution), a backlog runs once rather than in a burst, and a job never
#: overlaps itself unless asked to.
DEFAULT_JOB_OPTIONS: dict[str, Any] = {
    "misfire_grace_time": 60.0,
    "coalesce": True,
    "max_instances": 1,
}

_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}


def asbool(name: str, value: Any) -> bool:
    """A boolean from a bool or from text such as 'false'; ValueError names the option."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name}: expected true or false, got {value!r}")


def flatten_prefixed(gconfig: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Turn ``{'schedctl.job_defaults.coalesce': 'false'}`` into nested dicts, without
    touching the caller's mapping."""
    nested: dict[str, Any] = {}
    for key, value in gconfig.items():
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix) :].split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{key}: conflicts with another option of the same prefix")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def job_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validated job defaults; text values from config files are coerced."""
    unknown = set(options) - set(DEFAULT_JOB_OPTIONS)
    if unknown:
        raise ValueError(f"job_defaults: unknown option(s) {', '.join(sorted(unknown))}")
    result = dict(DEFAULT_JOB_OPTIONS)
    if "coalesce" in options:
        result["coalesce"] = asbool("job_defaults.coalesce", options["coalesce"])
    if "max_instances" in options:
        result["max_instances"] = _to_int("job_defaults.max_instances", options["max_instances"])
    if "misfire_grace_time" in options:
        value = options["misfire_grace_time"]
        if value is None or isinstance(value, str) and value.strip().lower() == "none":
            result["misfire_grace_time"] = None
        else:
            result["misfire_grace_time"] = _to_float("job_defaults.misfire_grace_time", value)
    return result


def create_plugin(kind: str, alias: str, spec: Any, types: Mapping[str, str]) -> Any:
    """Build an executor or store from ``{'type': 'sqlite', ...}`` or ``{'class': 'mod:Cls', ...}``."""
    if not isinstance(spec, Mapping):
        return spec
    options = dict(spec)
    type_name, class_ref = options.pop("type", None), options.pop("class", None)
    if class_ref is not None:
        cls = ref_to_obj(class_ref) if isinstance(class_ref, str) else class_ref
    elif type_name is not None:
        if type_name not in types:
            raise ValueError(
                f"{kind}s.{alias}.type: unknown {kind} type {type_name!r} "
                f"(known: {', '.join(sorted(types))})"
            )
        cls = ref_to_obj(types[type_name])
    else:
        raise ValueError(f"{kind}s.{alias}: give either 'type' or 'class' to create the {kind}")
    return cls(**options)


def _to_int(name: str, value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an integer, got {value!r}") from None


def _to_float(name: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number of seconds, got {value!r}") from None
