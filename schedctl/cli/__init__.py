"""The ``schedctl`` command: click commands that parse, call the engine and render.

This package is the one place where errors become messages and exit codes:
1 for a runtime error (unknown job, unusable state file), 2 for a usage error or
an invalid jobfile. No traceback reaches the user for an error of ours.
"""

from __future__ import annotations

# Each command's module is imported when the command is asked for (group.COMMAND_MODULES).
from schedctl.cli.group import main

__all__ = ["main"]
