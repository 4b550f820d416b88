"""The ``schedctl`` click group: where errors of ours become a message and an exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

from schedctl import __version__
from schedctl.commands.escape import escape_text
from schedctl.errors import SchedctlError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SchedctlGroup(click.Group):
    """Turns SchedctlError (and a broken pipe) into a clean message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SchedctlError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
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
