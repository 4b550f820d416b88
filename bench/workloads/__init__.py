"""The registry: a workload is a module here plus one line below.

Each module provides ``TITLE``, ``cases(size, libs)``, ``run(case, workdir)`` (in a
child process) and ``report(results, libs)``; ``PARALLEL = True`` runs all of its
cases at once (for workloads that mostly sleep).
"""

from __future__ import annotations

import importlib
from types import ModuleType

WORKLOADS = {
    "lateness": "bench.workloads.lateness",
    "throughput": "bench.workloads.throughput",
    "store_scale": "bench.workloads.store_scale",
    "catchup": "bench.workloads.catchup",
    "idle": "bench.workloads.idle",
    "commands": "bench.workloads.commands",
    "many": "bench.workloads.many",
    "footprint": "bench.workloads.footprint",
    "pgtrips": "bench.workloads.pgtrips",
    "cli": "bench.workloads.cli",
    "cluster": "bench.workloads.cluster",
    "metrics": "bench.workloads.metrics",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(WORKLOADS[name])
