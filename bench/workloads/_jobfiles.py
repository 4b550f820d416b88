"""Synthetic jobfiles shared by the workloads: many jobs none of which comes due, or many
that all run every second."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.harness import Results


def many_jobs(count: int, odd_schedule: Callable[[int], str]) -> list[str]:
    """Jobfile lines (under ``jobs:``) for ``count`` jobs: even ones every 2 to 13 hours,
    odd ones on ``odd_schedule(i)`` (a ``cron:`` or ``interval:`` line)."""
    lines: list[str] = []
    for i in range(count):
        lines.append(f"  job{i:04d}:")
        if i % 2:
            lines += [f"    command: /usr/local/bin/task-{i} --quiet", f"    {odd_schedule(i)}"]
        else:
            lines += [f'    command: [/usr/local/bin/sync, --shard, "{i}"]',
                      f"    interval: {2 + i % 12}h"]
    return lines


def every_second(path: Path, count: int, prefix: str) -> Path:
    """Writes ``count`` jobs ``<prefix>000``... that run ``true`` every second to ``path``,
    mode 0600 (run as root, schedctl refuses a jobfile others may write)."""
    lines = ["jobs:"]
    for i in range(count):
        lines += [f"  {prefix}{i:03d}:", '    command: "true"', "    interval: 1s"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def prepared_size(results: Results) -> str:
    """How a table row names the state the ``prepare`` case filled: "10,000 jobs"."""
    jobs = next((r.get("jobs") for r in results.reps("prepare", "schedctl", "sqlite")), None)
    return f"{jobs:,} jobs" if jobs else "the state"
