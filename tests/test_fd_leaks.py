"""Descriptors opened on the way to a failure are closed: a scheduler that meets the same
failure at every run must not run out of descriptors.

Each case runs in a process of its own, where a real resource limit makes a later step
fail (a file size limit refuses the write, a descriptor limit the second pipe), and
counts /proc/self/fd before and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = textwrap.dedent("""
    import json, os, resource, signal, sys
    from schedctl.commands.running import RunningCommand
    from schedctl.commands.spec import CommandSpec, CommandStartError
    from tests.test_shim import FixedLease

    def open_fds():
        return sorted(int(name) for name in os.listdir("/proc/self/fd"))

    def allow_only(free):
        '''Set RLIMIT_NOFILE so that only ``free`` more descriptors can be opened.'''
        taken, number = set(open_fds()), 0
        while free:
            free -= number not in taken
            number += 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (number, LIMITS[1]))

    LIMITS = resource.getrlimit(resource.RLIMIT_NOFILE)
    RunningCommand.start(CommandSpec(("true",)), job_id="warm", lease=FixedLease(3600)).wait()
    before = open_fds()
""")

CASES = {
    # The command's input is written to a memory file; a file size limit refuses the write.
    "stdin-write-refused": """
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        spec = CommandSpec("cat >/dev/null", stdin="x" * 100_000)
        try:
            RunningCommand.start(spec, job_id="t")
        except CommandStartError as exc:
            error = exc.result.error
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    """,
    # Under a lease, the output pipe is made, then the shim's: no descriptor left for it.
    "shim-pipe-refused": """
        allow_only(2)
        try:
            RunningCommand.start(CommandSpec(("true",)), job_id="t", lease=FixedLease(3600))
        except OSError as exc:
            error = exc.strerror
        resource.setrlimit(resource.RLIMIT_NOFILE, LIMITS)
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_start_that_fails_late_leaves_no_descriptor_open(case: str) -> None:
    script = PRELUDE + textwrap.dedent(CASES[case]) + textwrap.dedent("""
        print(json.dumps({"error": error, "before": before, "after": open_fds()}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["error"], seen  # the start did fail, at the step meant
    assert seen["after"] == seen["before"], seen
