"""Whether a state is a PostgreSQL URL or a file: read by commands that never load a jobfile.

Apart from :mod:`schedctl.jobfile.loader` (which re-exports both), so that ``schedctl list
--state`` and the state package do not import YAML and every key check to ask it.
"""

from __future__ import annotations

import os

from schedctl.errors import SchedctlError

__all__ = ["StateLocationError", "is_state_url"]


def is_state_url(value: str | os.PathLike[str]) -> bool:
    """Whether a state names a PostgreSQL database rather than an SQLite file."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


class StateLocationError(SchedctlError):
    """A state that looks like a URL of a store schedctl does not know (a typo, mostly):
    taken as a file path, it would create odd directories and show its password."""

    exit_code = 2

    def __init__(self, value: str) -> None:
        from schedctl.jobstores._pg_schema import redact

        scheme = value.split("://", 1)[0]
        super().__init__(
            f"unsupported state URL {redact(value)} (scheme {scheme!r}): give a file path, "
            "or postgresql://user@host/database for a store several nodes share"
        )
