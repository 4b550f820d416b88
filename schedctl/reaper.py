"""Reaping orphaned zombies when schedctl is PID 1 in a container.

A daemon started by a job outlives it and is re-parented to PID 1; when it exits,
only PID 1 can collect it. Commands schedctl waits for itself are skipped, so
their exit status is never stolen from the waiting thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def zombie_children(exclude: Iterable[int] = ()) -> list[int]:
    """Pids of this process's children that are zombies, minus ``exclude``."""
    skip = set(exclude)
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z" and int(fields[1]) == me:
            found.append(int(entry))
    return found


def reap_orphans(exclude: Iterable[int] = ()) -> int:
    """Collect zombie children not in ``exclude``; returns how many were reaped."""
    reaped = 0
    for pid in zombie_children(exclude):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
        except ChildProcessError:
            pass
    return reaped
