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

__all__ = ["StopReason", "outcome_of", "signals_sent", "summarize", "with_error"]

#: Why the runner stopped a run itself: its timeout, the scheduler's stop, or a newer run
#: of the same job that ``overlap: replace`` lets take its place.
StopReason = Literal["timeout", "interrupted", "replaced"]


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
    elif result.outcome == "replaced":
        error = f"replaced by a newer run after {took} (overlap: replace); {signals}"
    elif result.outcome == "killed":
        error = f"killed by {signal_name(result.signal)} after {took}"
    elif result.outcome == "failed" and isinstance(spec.command, str):
        hint = {126: "command not executable", 127: "command not found"}.get(result.exit_code or 0)
        if hint:  # the exit code and duration are the result's own fields: not repeated here
            error = f"{hint} (reported by {spec.shell})"
    return result if error is None else _replace(result, error=error)


def _replace(result: CommandResult, **changes: Any) -> CommandResult:
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    values.update(changes)
    return CommandResult(**values)


#: How an error sentence names its outcome when it starts with it ("timed out after 5s").
_OUTCOME_PHRASES = {"timeout": "timed out"}


def summarize(
    state: str, *, exit_code: int | None = None, signal: int | None = None,
    duration: float | None = None, error: str | None = None,
) -> str:
    """One line for a log or a table: ``failed exit 3 in 2s - disk full``.

    An error sentence that starts by naming the outcome (``interrupted by the scheduler
    after 3s``, ``timed out after 5s``) already says it all: the outcome word then leads
    and the sentence follows, so no word is said twice.
    """
    phrase = _OUTCOME_PHRASES.get(state, state)
    if error and state != "success" and error.startswith(phrase + " "):
        return state + error[len(phrase):]
    parts = [state]
    if exit_code is not None:
        parts.append(f"exit {exit_code}")
    if signal is not None:
        parts.append(f"signal {signal}")
    if duration is not None:
        parts.append(f"in {format_seconds(duration)}")
    if error and state != "success":
        parts.append(f"- {error}")
    return " ".join(parts)
