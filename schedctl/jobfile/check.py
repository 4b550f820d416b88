"""The rules of a whole jobfile: its top-level keys, ``cluster``, ``executors`` and
``defaults``, and each job under ``jobs`` (checked by :mod:`schedctl.jobfile.jobcheck`).

Problems are collected, never raised, so one run reports all of them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from schedctl.jobfile.addresses import EXAMPLES, ListenAddress, parse_listen_address
from schedctl.jobfile.collect import INVALID, Collector, Entry
from schedctl.jobfile.jobcheck import JobContext
from schedctl.jobfile.keys import EXECUTOR_KEYS, JOB_KEYS
from schedctl.jobfile.specs import ClusterSpec, ExecutorSpec, MetricsSpec, node_name_problem
from schedctl.jobfile.triggerkeys import check_timezone
from schedctl.jobfile.values import (
    Bad,
    Check,
    check_positive_duration,
    nonempty_text,
    optional,
    unknown_key,
    vetted_text,
)
from schedctl.jobfile.yamlmarks import Field, Node, Problem, describe

TOP_KEYS = ("timezone", "state", "cluster", "metrics", "defaults", "executors", "jobs")


def assemble(
    root: Node, filename: str, *, check_imports: bool
) -> tuple[dict[str, Any], list[Problem]]:
    """The keyword arguments of :class:`~schedctl.jobfile.specs.Jobfile` (less ``path``), and the problems."""
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
    if "metrics" in top:
        values["metrics"] = _metrics(collector, top["metrics"])
    file_zone = values["timezone"] if values["timezone"] is not INVALID else None
    defaults = _defaults(collector, top.get("defaults"))
    pools = top.get("executors")  # every name given counts, even one with a bad pool
    names = set(pools.node.value) if pools and pools.node.is_mapping else set()
    context = JobContext(collector, defaults, file_zone, names, check_imports)
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
    return vetted_text(node, "a node name", node_name_problem)


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


#: The keys of ``metrics:``.
METRICS_KEYS = ("listen",)


def _listen(base: str) -> Check:
    def check(node: Node) -> ListenAddress:
        try:
            return parse_listen_address(nonempty_text(node, f"an address such as {EXAMPLES}"), base)
        except ValueError as exc:
            raise Bad(str(exc)) from None

    return check


def _metrics(collector: Collector, field: Field) -> MetricsSpec | None:
    """``metrics: {listen: ADDRESS}``; a relative socket path is the jobfile's directory's."""
    if not collector.section(field, "a mapping such as {listen: 127.0.0.1:9746}"):
        return None
    base = os.path.dirname(os.path.abspath(collector.filename))
    entries = collector.keys(field.node, "metrics", {key: _listen(base) for key in METRICS_KEYS})
    if "listen" not in entries:
        collector.add(field.node, "metrics", "no 'listen' address: add one, such as "
                      "listen: 127.0.0.1:9746")
        return None
    entry = entries["listen"]
    if entry.value is INVALID:
        return None
    node = entry.field.node
    return MetricsSpec(entry.value, f"{collector.filename}:{node.line}:{node.column}: {entry.key_path}")


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
