"""``schedctl edit``: edit a jobfile as ``crontab -e`` edits a crontab (see service/editing.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from schedctl.cli.group import main, say
from schedctl.errors import SchedctlError


class InvalidEditError(SchedctlError):
    """The edited jobfile is invalid and was not saved."""

    exit_code = 2


@main.command(short_help="Edit a jobfile as crontab -e does; save it if valid.")
@click.argument("jobfile", type=click.Path(dir_okay=False))
@click.option("--no-retry", is_flag=True,
              help="On an invalid edit, exit with status 2 instead of offering to edit again "
                   "(what happens anyway when stdin is not a terminal).")
def edit(jobfile: str, no_retry: bool) -> None:
    """Edit JOBFILE in $VISUAL or $EDITOR; save it only when it is valid.

    \b
    As 'crontab -e' and 'visudo' do: the editor works on a private copy. When it
    exits, the copy is checked as 'schedctl validate' checks a jobfile. An invalid
    copy is reported, and on a terminal you are asked whether to edit it again;
    otherwise JOBFILE is left as it was, the copy is kept (its path is shown) and
    the exit status is 2. A valid copy replaces JOBFILE in one rename, keeping its
    owner, group and mode, and the scheduler running it is told to reload (SIGHUP).
    A JOBFILE that does not exist yet is created (mode 0600).
    \b
    Example:
      EDITOR=nano schedctl edit /etc/schedctl/jobs.yaml
    """
    from schedctl.service import editing

    original = editing.read_original(jobfile)
    state = _state_of(jobfile) if original.signature is not None else None
    command = editing.editor_command(os.environ)
    copy = editing.make_copy(original)
    ask = not no_retry and sys.stdin.isatty()
    exists = original.signature is not None
    untouched = f"{jobfile} is unchanged" if exists else f"{jobfile} was not created"
    while True:
        try:
            editing.run_editor(command, copy)
        except editing.EditError as exc:
            if Path(copy).read_bytes() == original.data:
                editing.discard_copy(copy)
                raise editing.EditError(f"{exc}; {untouched}") from None
            raise editing.EditError(f"{exc}; {untouched}, and your edit is kept "
                                    f"in {copy}") from None
        data = Path(copy).read_bytes()
        if data == original.data:
            editing.discard_copy(copy)
            click.echo(f"{jobfile}: no changes made" + ("" if exists else "; not created"))
            return
        problems = editing.check_copy(copy, original)
        if not problems:
            break
        for line in problems:
            say(line)
        if not (ask and _again()):
            raise InvalidEditError(f"{untouched}; your edit is kept in {copy}")
    try:
        editing.replace_file(original, data)
    except editing.EditError as exc:
        raise editing.EditError(f"{exc}; your edit is kept in {copy}") from None
    editing.discard_copy(copy)
    click.echo(f"{jobfile}: saved; {_tell(state)}")
    from schedctl.service.startup import trust_warnings

    for warning in trust_warnings(jobfile):
        say(f"schedctl: warning: {warning}")


def _again() -> bool:
    try:
        return click.confirm("Edit again?", default=True, err=True)
    except click.Abort:  # Ctrl-C or end of input at the question
        click.echo("", err=True)
        return False


def _state_of(jobfile: str) -> str | None:
    """The state the scheduler running JOBFILE uses, found before the edit can change it."""
    from schedctl.cli.common import find_state

    try:
        return find_state(None, jobfile)
    except SchedctlError:
        return None  # no state yet: no scheduler has run this jobfile


def _tell(state: str | None) -> str:
    """Send SIGHUP to the scheduler of ``state``, and say what became of the change."""
    from schedctl.jobfile.loader import is_state_url
    from schedctl.service.editing import EditError, signal_scheduler

    if state is not None and is_state_url(state):
        return "each node running it reloads it within 2 seconds"
    try:
        pid = signal_scheduler(state) if state is not None else None
    except EditError as exc:  # the file is saved already: a warning, not a failed edit
        say(f"schedctl: warning: {exc}")
        return "the scheduler was not told to reload it (see the warning)"
    if pid is None:
        return "no scheduler runs it now; 'schedctl run' will use it"
    return f"the scheduler (pid {pid}) was told to reload it"
