"""Synthetic jobfiles shared by the workloads that need many jobs none of which comes due."""

from __future__ import annotations

from collections.abc import Callable


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
