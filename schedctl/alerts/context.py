"""What an alert says about a run: the webhook's JSON body, a command's environment, a subject.

A recovery is the first success after a failure; ``output`` is a run that printed
something (``on_output``, cron's MAILTO). A webhook POSTs this JSON body
(``Content-Type: application/json``, ``User-Agent: schedctl/<version>``)::

    {
      "schedctl": 1,                    # version of this body; fields are only ever added
      "kind": "failure",                # or "recovery", or "output"
      "job_id": "backup",
      "outcome": "failed",              # failed, timeout, killed, not_started, interrupted,
                                        # error (a call: job raised), success (recovery)
      "exit_code": 3,                   # null unless the process exited by itself
      "signal": null,                   # the signal that ended it, else null
      "duration": 12.345,               # seconds, null if it never started
      "scheduled_for": "2026-03-01T02:30:00+00:00",
      "finished_at": "2026-03-01T02:30:12.345000+00:00",
      "error": null,                    # what went wrong beyond the exit code, else null
      "output_tail": "tar: /etc/shadow: Cannot open: Permission denied\\n",
      "hostname": "db1",
      "description": "Nightly backup"   # the job's description, or null
    }

A command alert finds the same fields in ``SCHEDCTL_*`` variables (:meth:`AlertContext.env`),
and an email carries them in its body under the subject :meth:`AlertContext.summary`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from schedctl.commands.spec import signal_name

__all__ = ["TAIL_CHARS", "AlertContext", "AlertKind"]

AlertKind = Literal["failure", "recovery", "output"]
#: Characters of output an alert carries: the end of the output, where the error usually is.
TAIL_CHARS = 4096


@dataclass(frozen=True, kw_only=True)
class AlertContext:
    """What an alert says about a run. ``duration`` is None when the job never started.

    ``command`` (the command line) and ``user`` (whom it ran as, None for the scheduler's
    user) make the subject of cron's mail; they stay out of the webhook body and the
    environment, as a command line may hold a token.
    """

    kind: AlertKind
    job_id: str
    outcome: str
    scheduled_for: datetime
    finished_at: datetime
    exit_code: int | None = None
    signal: int | None = None
    duration: float | None = None
    error: str | None = None
    output_tail: str = ""
    hostname: str = field(default_factory=socket.gethostname)
    description: str | None = None
    command: str | None = None
    user: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The webhook body documented at the top of this module."""
        return {
            "schedctl": 1,
            "kind": self.kind,
            "job_id": self.job_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "duration": None if self.duration is None else round(self.duration, 3),
            "scheduled_for": self.scheduled_for.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "error": self.error,
            "output_tail": self.output_tail,
            "hostname": self.hostname,
            "description": self.description,
        }

    def env(self) -> dict[str, str]:
        """The ``SCHEDCTL_*`` variables of a command alert; empty text for "does not apply"."""
        body = self.to_json()
        env = {
            f"SCHEDCTL_{name.upper()}": _env_text(value)
            for name, value in body.items()
            if name not in ("schedctl", "output_tail")  # the tail goes to stdin
        }
        env["SCHEDCTL_ALERT"] = env.pop("SCHEDCTL_KIND")
        return env

    def summary(self) -> str:
        """``backup failed on db1 (exit 3)``: a failure email's subject, less its ``[schedctl]``."""
        if self.kind == "recovery":
            return f"{self.job_id} recovered on {self.hostname}"
        if self.kind == "output":
            return f"output of {self.job_id} on {self.hostname}"
        verb = _VERBS.get(self.outcome, self.outcome)
        detail = ""
        if self.exit_code not in (None, 0):
            detail = f" (exit {self.exit_code})"
        elif self.signal is not None:
            detail = f" ({signal_name(self.signal)})"
        return f"{self.job_id} {verb} on {self.hostname}{detail}"


_VERBS = {
    "failed": "failed",
    "error": "failed",
    "timeout": "timed out",
    "killed": "was killed",
    "not_started": "did not start",
    "interrupted": "was interrupted",
    "success": "succeeded",
}


def _env_text(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("\0", "")  # exec refuses NUL in the environment
