"""How a run ended, in words: its outcome and the one-line error an alert or the history shows.

Pure functions of what the waiting thread saw (the exit status, why it stopped the run,
which signals it sent), kept apart from the process handling in
:mod:`schedctl.commands.running`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal

from schedctl.commands.spec import (
    CommandResult,
    CommandSpec,
    Outcome,
    format_seconds,
    signal_name,
)

__all__ = ["StopReason", "outcome_of", "signals_sent", "with_error"]

#: Why the runner stopped a run itself.
StopReason = Literal["timeout", "interrupted"]


def outcome_of(returncode: int, stop_reason: StopReason | None) -> Outcome:
    """A stop the runner made wins over how the process ended; a signal means it was killed."""
    if stop_reason is not None:
        return stop_reason
    if returncode < 0:
        return "killed"
    return "success" if returncode == 0 else "failed"


def signals_sent(*, sigterm: bool, sigkill: bool, grace: float) -> str:
    """``sent SIGTERM``, ``sent SIGKILL`` or ``sent SIGTERM, then SIGKILL after 10s``."""
    if not sigterm:
        return "sent SIGKILL"
    if not sigkill:
        return "sent SIGTERM"
    return f"sent SIGTERM, then SIGKILL after {format_seconds(max(grace, 0.0))}"


def with_error(result: CommandResult, spec: CommandSpec, *, signals: str) -> CommandResult:
    """Fill in the sentence an alert or the history shows for a run that did not succeed."""
    took = format_seconds(result.duration)
    error = None
    if result.outcome == "timeout":
        error = f"timed out after {format_seconds(spec.timeout or 0)}; {signals}"
    elif result.outcome == "interrupted":
        error = f"interrupted by the scheduler after {took}; {signals}"
    elif result.outcome == "killed":
        error = f"killed by {signal_name(result.signal)} after {took}"
    elif result.outcome == "failed" and isinstance(spec.command, str):
        hint = {126: "command not executable", 127: "command not found"}.get(result.exit_code or 0)
        if hint:
            error = f"exit {result.exit_code} in {took}: {hint} (reported by {spec.shell})"
    return result if error is None else _replace(result, error=error)


def _replace(result: CommandResult, **changes: Any) -> CommandResult:
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    values.update(changes)
    return CommandResult(**values)
