"""The ``schedctl`` command: click commands that parse, call the engine and render.

This package is the one place where errors become messages and exit codes:
1 for a runtime error (unknown job, unusable state file), 2 for a usage error or
an invalid jobfile. No traceback reaches the user for an error of ours.
"""

from __future__ import annotations

from schedctl.cli import crontabs as _crontabs  # noqa: F401  (registers the commands)
from schedctl.cli import edit as _edit  # noqa: F401
from schedctl.cli import jobs as _jobs  # noqa: F401
from schedctl.cli import metrics as _metrics  # noqa: F401
from schedctl.cli import run as _run  # noqa: F401
from schedctl.cli import top as _top  # noqa: F401
from schedctl.cli.group import main

__all__ = ["main"]
