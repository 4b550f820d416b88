"""Runs one case in a fresh interpreter: ``python -m bench.child WORKLOAD CASE_JSON WORKDIR``.

A process per measurement keeps the engines apart (threads, caches, imported
modules), lets the parent kill a runaway case, and makes peak RSS per case exact.
The result is one JSON line after ``RESULT_MARK`` on stdout.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from typing import Any

from bench.harness import Case
from bench.sides import quiet_logging, warm_up
from bench.workloads import load

RESULT_MARK = "@@bench-result@@ "


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str]) -> None:
    name, case_json, workdir = argv
    case = Case(**json.loads(case_json))
    quiet_logging()
    module = load(name)
    warm_up(case.lib)
    rss_before = current_rss_mb()
    try:
        result: dict[str, Any] = module.run(case, workdir)
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the run
        result = {"error": traceback.format_exc(limit=8)}
    result["rss_before_mb"] = rss_before
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    # Skip interpreter shutdown: a capped APScheduler run may still be working in a
    # daemon thread, and joining executor threads would only measure nothing slowly.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
