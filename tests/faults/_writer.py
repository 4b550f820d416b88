"""One of the concurrent writers of ``test_concurrent_writers``: the real CLI, in a loop.

``python -m tests.faults._writer STATE INDEX COUNT SEED`` (from the project root) prints
``ready``, waits for ``go`` on stdin so that all writers start together, then sends
COUNT commands through the click commands themselves (``CliRunner``: everything
``schedctl`` does but starting Python), and prints one JSON line per command:
what it was, when it began and ended (``time.time()``), its exit code and output.

The workload of writer INDEX:

* its own job ``own-INDEX``: pause and resume, alternately, with a pause of 0-0.5 s
  between its own commands, so the scheduler's obedience can be measured;
* the jobs every writer fights over, ``shared-0`` and ``shared-1``: pause or resume at random;
* its own never-due job ``now-INDEX``: run-now.
"""

from __future__ import annotations

import json
import random
import sys
import time

from click.testing import CliRunner

from schedctl.cli import main

SHARED = ("shared-0", "shared-1")
OWN_DWELL = 0.5
THINK = 0.01


def command(runner: CliRunner, state: str, verb: str, job_id: str) -> dict[str, object]:
    started = time.time()
    result = runner.invoke(main, [verb, "--state", state, job_id])
    ended = time.time()
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    return {"verb": verb, "job": job_id, "t0": started, "t1": ended, "code": result.exit_code,
            "out": result.stdout, "err": result.stderr, "crash": repr(crash) if crash else None}


def workload(state: str, index: int, count: int, rng: random.Random) -> list[dict[str, object]]:
    runner = CliRunner()
    own, now_job = f"own-{index}", f"now-{index}"
    own_paused, own_ready_at = False, 0.0
    records = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4 and time.time() >= own_ready_at:
            verb = "resume" if own_paused else "pause"
            own_paused = not own_paused
            records.append(command(runner, state, verb, own))
            own_ready_at = time.time() + rng.uniform(0, OWN_DWELL)
        elif roll < 0.8:
            records.append(command(runner, state, rng.choice(("pause", "resume")), rng.choice(SHARED)))
        else:
            records.append(command(runner, state, "run-now", now_job))
        time.sleep(rng.uniform(0, THINK))
    return records


def main_() -> None:
    state, index, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    for record in workload(state, index, count, random.Random(seed * 100 + index)):
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main_()
