"""The ``schedctl`` click group: where errors of ours become a message and an exit code."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from schedctl import __version__
from schedctl.commands.escape import escape_text
from schedctl.errors import SchedctlError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: The module of ``schedctl.cli`` that defines each command. A command's module is
#: imported when the command is asked for, so ``schedctl list`` loads neither the
#: service nor the crontab converter, and ``schedctl run`` keeps none of the other
#: commands in its memory (click's documented lazy-loading pattern).
COMMAND_MODULES = {
    "edit": "edit", "import": "crontabs", "metrics": "metrics", "top": "top",
    "run": "run", "systemd-unit": "run", "validate": "run",
    "list": "jobs", "pause": "jobs", "resume": "jobs", "run-now": "jobs", "next": "jobs",
    "history": "jobs", "status": "jobs",
}


class SchedctlGroup(click.Group):
    """Loads each command's module when asked for it, and turns SchedctlError (and a
    broken pipe) into a clean message and exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"schedctl.cli.{module}")  # registers it on main
        return super().get_command(ctx, cmd_name)

    def every_command(self) -> dict[str, click.Command]:
        """Every command, each module imported (for the docs and their tests)."""
        for module in sorted(set(COMMAND_MODULES.values())):
            importlib.import_module(f"schedctl.cli.{module}")
        return dict(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SchedctlError as exc:
            # At our own line feeds only: splitlines() would also break at a U+2028 or
            # U+0085 in quoted text, and what follows could pass for a line of ours.
            for line in str(exc).split("\n") if str(exc) else [type(exc).__name__]:
                say(f"schedctl: {line}" if not _located(line) else line)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)


def say(line: str) -> None:
    """Print ``line`` on stderr, its control characters escaped: a message may quote what
    another user wrote (a jobfile's key, a file's name), and an escape sequence in it
    must not steer the terminal of whoever reads it (OSC 52 sets the clipboard)."""
    click.echo(escape_text(line, newlines=False), err=True)


def _located(line: str) -> bool:
    """Jobfile problems already start with ``file:line:col:``."""
    head = line.split(":", 3)
    return len(head) == 4 and head[1].isdigit()


@click.group(cls=SchedctlGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="schedctl")
def main() -> None:
    """schedctl: a crontab replacement with run history and overlap control.

    \b
    Jobs live in a YAML jobfile; 'schedctl run' runs them in the foreground (under
    systemd or in a container), and the other commands steer it from a shell.
    \b
    Examples:
      schedctl validate jobs.yaml        check a jobfile and show its plan
      schedctl run jobs.yaml             run the jobs until SIGTERM
      schedctl list -f jobs.yaml         show jobs, next runs and last outcomes
      schedctl pause -f jobs.yaml backup
    """
