"""Being PID 1 in a container: a small init in front of the scheduler.

A daemon started by a job outlives it and is re-parented to PID 1; when it exits,
only PID 1 can collect it. Collecting it from inside the scheduler would race with
the threads that wait for their own children (a job's shell, an alert command, a
``call:`` job's subprocess): a status collected from under them reads as exit 0, so
a failed job would be recorded as a success. So, as PID 1, schedctl forks, as tini
and dumb-init do: the parent stays PID 1, forwards signals and collects every child
that exits; the child runs the scheduler and waits only for what it started.
"""

from __future__ import annotations

import os
import signal

#: What the init passes on to the scheduler (the rest a scheduler never needs).
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


def split_init() -> int | None:
    """Fork. In the child, return None: it goes on to run the scheduler. In the parent,
    forward signals and reap until the child exits, then return the child's exit code."""
    # Blocked across the fork: a signal that arrives meanwhile waits for its handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        return None
    for signum in FORWARDED:
        signal.signal(signum, lambda number, frame: _forward(child, number))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    return reap_until(child)


def _forward(child: int, signum: int) -> None:
    try:
        os.kill(child, signum)
    except ProcessLookupError:
        pass  # it has just exited: reap_until is about to see it


def reap_until(child: int) -> int:
    """Collect every child that exits; return ``child``'s exit code (128+N if signal N ended it)."""
    while True:
        pid, status = os.wait()  # retried after a forwarding handler has run (PEP 475)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
