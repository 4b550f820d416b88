"""``schedctl import``: crontab files in, a commented jobfile out."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from schedctl.cli.common import UsageError
from schedctl.cli.group import main, say

#: Like crontab(1)'s files: an imported crontab may hold secrets in its environment lines.
_JOBFILE_MODE = 0o600


@main.command("import", short_help="Convert crontab files into one commented jobfile.")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.option("--system", is_flag=True,
              help="Read every FILE in the system format, with a user column "
                   "(default: only /etc/crontab and files in a cron.d directory).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), metavar="JOBFILE",
              help="Write the jobfile to this new file instead of stdout.")
def import_crontabs(files: tuple[str, ...], system: bool, output: str | None) -> None:
    """Convert crontab FILEs into one commented jobfile.

    \b
    Reads user crontabs, /etc/crontab and /etc/cron.d files (a directory stands for
    the files in it that cron reads); '-' reads stdin. Each job gets an id from its
    program's name, the comment above its line as description, and the environment
    lines above it as defaults or its own keys; its crontab line is kept as a comment.
    A line that cannot be converted is reported as FILE:LINE:COL and kept as a
    comment, and the exit status is 1. The jobfile written always validates.
    \b
    Examples:
      crontab -l | schedctl import - > jobs.yaml
      schedctl import -o /etc/schedctl/jobs.yaml /etc/crontab /etc/cron.d
    """
    from schedctl.crontab.build import import_crontabs as convert
    from schedctl.crontab.files import expand, parse_source, read_trusted

    if files.count("-") > 1:
        raise UsageError("'-' (stdin) can be given only once")
    if output is not None and os.path.lexists(output):
        raise UsageError(f"{output} exists already; remove it or choose another name")
    paths, notes = expand(list(files))
    sources, refused = read_trusted(paths)
    crontabs = [parse_source(source, system or None) for source in sources]
    result = convert(crontabs, output or "jobs.yaml")
    for note in [*notes, *refused]:
        say(f"schedctl: {note}")
    if output is None:
        click.echo(result.text, nl=False)
    else:
        _write_new(output, result.text)
    for problem in result.problems:
        say(str(problem))
    _summary(len(result.jobfile.jobs), result.problems, output, len(refused))
    if result.problems or refused:
        raise SystemExit(1)


def _write_new(path: str, text: str) -> None:
    """Create ``path`` (never through a symlink, never over a file) and write ``text``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _JOBFILE_MODE)
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)


def _summary(jobs: int, problems: Sequence[object], output: str | None, skipped: int = 0) -> None:
    where = f" to {output}" if output else ""
    message = f"schedctl: {jobs} job(s) written{where}"
    if problems:
        message += f"; {len(problems)} line(s) could not be converted (kept as comments)"
    if skipped:
        message += f"; {skipped} file(s) skipped as untrusted (see above)"
    click.echo(message, err=True)
