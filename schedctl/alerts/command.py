"""The ``command:`` alert: run a command with the alert in its environment and on its stdin.

It runs under ``/bin/sh -c`` (a list runs as argv), in its own process group that is
killed at its timeout. It reads the output tail on stdin and finds the rest in its
environment: ``SCHEDCTL_ALERT`` (failure or recovery), ``SCHEDCTL_JOB_ID``,
``SCHEDCTL_OUTCOME``, ``SCHEDCTL_EXIT_CODE``, ``SCHEDCTL_SIGNAL``, ``SCHEDCTL_DURATION``
(seconds, as 1.234), ``SCHEDCTL_SCHEDULED_FOR``, ``SCHEDCTL_FINISHED_AT`` (ISO 8601),
``SCHEDCTL_HOSTNAME``, ``SCHEDCTL_ERROR`` and ``SCHEDCTL_DESCRIPTION``; a value that does
not apply is empty.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, ClassVar

from schedctl.alerts.context import AlertContext
from schedctl.alerts.spec import AlertError, AlertSpec, AlertSpecError, check_timeout
from schedctl.commands.spec import signal_name

__all__ = ["CommandAlert", "exit_text", "kill_group", "last_line"]

_REAP_SECONDS = 2.0  # after SIGKILL, how long an escaped process may hold on to its output file


@dataclass(frozen=True)
class CommandAlert(AlertSpec):
    """Run ``command`` (a str through ``/bin/sh -c``, a tuple as argv)."""

    kind: ClassVar[str] = "command"
    command: str | tuple[str, ...]
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.command, list):
            object.__setattr__(self, "command", tuple(self.command))
        argv = _argv_of(self.command)
        if not argv or not all(isinstance(arg, str) for arg in argv) or not argv[0].strip():
            raise AlertSpecError("command alert: give a command line or a list of arguments")
        check_timeout(self.timeout, "command alert")

    def describe(self) -> str:
        """How logs name it: the program only, since arguments (``TOKEN=... curl``) may be secret."""
        program = next((word for word in _argv_of(self.command) if "=" not in word), "sh")
        return f"command alert {program!r}"

    def send(self, context: AlertContext) -> None:
        """Run the command to its end or its timeout; fail on a non-zero exit."""
        argv = (
            ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else list(self.command)
        )
        label = self.describe()
        # Output goes to a file rather than a pipe: memory stays flat, and a process the
        # command leaves behind cannot hold up the wait by keeping the pipe open.
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **context.env()},
                    start_new_session=True,
                )
            except OSError as exc:
                raise AlertError(f"{label} cannot start: {exc.strerror or exc}") from None
            try:
                process.communicate(
                    context.output_tail.encode("utf-8", "replace"), timeout=self.timeout
                )
            except subprocess.TimeoutExpired:
                kill_group(process)
                raise AlertError(
                    f"{label} timed out after {self.timeout:g}s; its process group was killed"
                ) from None
            if process.returncode != 0:
                raise AlertError(f"{label} {exit_text(process.returncode)}{last_line(output)}")


def _argv_of(command: object) -> tuple[Any, ...]:
    if isinstance(command, str):
        return tuple(command.split())
    return command if isinstance(command, tuple) else ()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of a program that ran past its timeout, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=_REAP_SECONDS)
    process.wait()


def exit_text(returncode: int) -> str:
    """``exited with status 3``, ``was killed by SIGKILL``."""
    if returncode < 0:
        return f"was killed by {signal_name(-returncode)}"
    return f"exited with status {returncode}"


def last_line(output: Any) -> str:
    """``: <the program's last line of output>``, to say why it failed."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 400))
    lines = output.read().decode("utf-8", "replace").strip().splitlines()
    return f": {lines[-1][-200:]}" if lines else ""
