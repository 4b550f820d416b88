"""``schedctl run`` and ``schedctl validate``: the commands that take a jobfile."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from schedctl.cli.group import main, say
from schedctl.cli.common import (
    MAX_RUNS_SHOWN, Duration, ListenAddressType, UsageError, json_option,
)
from schedctl.clock import SystemClock

if TYPE_CHECKING:
    from schedctl.jobfile.addresses import ListenAddress

F = TypeVar("F", bound=Callable[..., Any])


def crontab_options(func: F) -> F:
    """``--crontab`` and ``--system``: read the file as a crontab, whatever it looks like."""
    func = click.option(
        "--system", is_flag=True,
        help="The crontab has a user column, as /etc/crontab and /etc/cron.d files do "
             "(default: by its path). Implies --crontab.")(func)
    return click.option(
        "--crontab", "as_crontab", is_flag=True,
        help="Read the file as a crontab (default: a crontab is recognised by its content).",
    )(func)


def _check_node(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from schedctl.jobfile.specs import node_name_problem

    problem = None if value is None else node_name_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@main.command(short_help="Run the jobs of a jobfile or crontab in the foreground.")
@click.argument("jobfile", type=click.Path(dir_okay=False))
@click.option("--state", type=click.Path(dir_okay=False), metavar="FILE|URL",
              envvar="SCHEDCTL_STATE",
              help="State file (SQLite), or postgresql://user@host/db to run as one node of "
                   "several; overrides the jobfile's 'state:'. [env: SCHEDCTL_STATE]")
@click.option("--node", metavar="NAME", envvar="SCHEDCTL_NODE", callback=_check_node,
              help="This node's name in a PostgreSQL store; overrides the jobfile's "
                   "'cluster: node:' (default: the host name). [env: SCHEDCTL_NODE]")
@click.option("--log-format", type=click.Choice(["text", "json", "journal"]), default=None,
              help="Log line format on stderr (default: text, or journal under journald).")
@click.option("--shutdown-timeout", type=Duration(), default="30s", show_default=True,
              help="On SIGTERM or Ctrl-C, how long running jobs may finish before they are "
                   "terminated; a second Ctrl-C terminates them at once.")
@click.option("--insecure", is_flag=True,
              help="Run even if the jobfile, an env_file, the state file, or a call: module "
                   "or its directory could be changed by another user (logged loudly).")
@click.option("--metrics", type=ListenAddressType(), metavar="ADDRESS", envvar="SCHEDCTL_METRICS",
              help="Serve Prometheus metrics (/metrics) and a health check (/healthz) on "
                   "ADDRESS: 127.0.0.1:9746, :9746 (every interface) or a unix socket path; "
                   "overrides the jobfile's 'metrics: listen:'. [env: SCHEDCTL_METRICS]")
@crontab_options
def run(jobfile: str, state: str | None, node: str | None, log_format: str | None,
        shutdown_timeout: float, insecure: bool, metrics: ListenAddress | None,
        as_crontab: bool, system: bool) -> None:
    """Run the jobs of JOBFILE (or of a crontab) in the foreground until SIGTERM or SIGINT.

    \b
    Validates the jobfile, brings the state file in line with it, then starts
    jobs on schedule, logging one line per event on stderr. A change to the
    jobfile is noticed within 2 seconds and reloaded, as SIGHUP does (an invalid
    one is reported and the running jobs are kept).
    With a postgresql:// state, run the same jobfile on several hosts: each
    scheduled run happens on exactly one of them. A crontab file runs as it is,
    converted in memory as 'schedctl import' would write it.
    \b
    Examples:
      schedctl run jobs.yaml
      schedctl run /etc/crontab
      schedctl run --log-format json --state /var/lib/schedctl/jobs.db jobs.yaml
      schedctl run --state postgresql://schedctl@db/schedctl --node web-1 jobs.yaml
      schedctl run --metrics 127.0.0.1:9746 jobs.yaml
    """
    from schedctl.service.daemon import ServeOptions, serve
    from schedctl.service.logfmt import setup_logging

    if jobfile == "-":
        raise UsageError(
            "JOBFILE '-': schedctl run cannot take its jobfile from standard input: it reads "
            "the file again at each reload (SIGHUP, or a change on disk), and standard input "
            "can be read only once; save it to a file first (crontab -l > my.crontab) and run "
            "that, or check it with 'schedctl validate -'")
    setup_logging(log_format)
    code = serve(ServeOptions(jobfile=jobfile, state=state, shutdown_timeout=shutdown_timeout,
                              insecure=insecure, node=node, metrics=metrics,
                              crontab=as_crontab or None, system=system or None))
    raise SystemExit(code)


@main.command(short_help="Check a jobfile or crontab and show its plan.")
@click.argument("jobfile", type=click.Path(dir_okay=False))
@click.option("-n", "--count", type=click.IntRange(0, MAX_RUNS_SHOWN), default=3,
              show_default=True,
              metavar="COUNT",
              help="Upcoming runs to show per job (0: none).")
@json_option
@crontab_options
def validate(jobfile: str, count: int, as_json: bool, as_crontab: bool, system: bool) -> None:
    """Check JOBFILE (or a crontab) and show its plan; changes nothing.

    \b
    Every problem is reported at once as FILE:LINE:COL: KEY: MESSAGE, with exit
    code 2. A valid file prints each job's schedule in words, the user it runs
    as, and its next runs. JOBFILE '-' reads standard input.
    \b
    Examples:
      schedctl validate jobs.yaml
      crontab -l | schedctl validate --crontab -
    """
    from rich.markup import escape

    from schedctl.cli import output
    from schedctl.jobfile.written import as_written
    from schedctl.service.jobwarnings import job_warnings
    from schedctl.service.startup import open_jobfile, trust_warnings
    from schedctl.state.sync import build_job
    from schedctl.state.views import jitter_of, upcoming

    if jobfile != "-":  # standard input has no file to trust or not
        _warn(trust_warnings(jobfile))
    loaded = open_jobfile(jobfile, crontab=as_crontab or None, system=system or None,
                          trusted=False)
    jobfile = "<stdin>" if jobfile == "-" else jobfile
    _warn(job_warnings(loaded))
    now = SystemClock().now()
    jobs = [(spec, build_job(spec, loaded)) for spec in loaded.jobs.values()]
    plan = [(spec, job, [] if spec.paused else upcoming(job, now, count)) for spec, job in jobs]
    if as_json:
        output.print_json({"jobfile": jobfile, "valid": True, "jobs": [
            {"id": spec.id, "schedule": job.trigger.describe(), "trigger": str(job.trigger),
             "paused": spec.paused, "user": spec.user,
             "next_runs": [t.isoformat() for t in times], "jitter": jitter_of(job.trigger)}
            for spec, job, times in plan
        ]})
        return
    out = output.console()
    out.print(f"{escape(jobfile)}: OK, {len(plan)} job(s)")
    for spec, job, times in plan:
        out.print(f"\n[bold]{escape(spec.id)}[/]: {escape(job.trigger.describe())}  "
                  f"[dim]{escape(as_written(job.trigger))}[/]")
        if spec.paused:
            out.print("  paused")
        zone = getattr(job.trigger, "timezone", None)
        for when in times:
            out.print(f"  {output.local(when, zone)}  ({output.relative(when, now)})")
        if times and (note := output.jitter_note(jitter_of(job.trigger))):
            out.print(f"  {note}")
        out.print(f"  runs as {escape(spec.user)}" if spec.user else
                  "  runs as the scheduler's user")


@main.command("systemd-unit", short_help="Print a systemd service unit that runs a jobfile.")
@click.argument("jobfile", type=click.Path(dir_okay=False, exists=True))
@click.option("--state", type=click.Path(dir_okay=False), metavar="FILE|URL",
              envvar="SCHEDCTL_STATE",
              help="State file (or postgresql:// URL) the unit should use (default: the "
                   "jobfile's 'state:', else /var/lib/schedctl/NAME-HASH.db). [env: SCHEDCTL_STATE]")
@click.option("--user", "run_as", metavar="USER", help="Run the jobs as this user (User= in the unit).")
def systemd_unit(jobfile: str, state: str | None, run_as: str | None) -> None:
    """Print a systemd service unit that runs JOBFILE (Type=notify, reload on SIGHUP).

    The state file lies in the service's own state directory (StateDirectory=, under
    /var/lib, owned by the unit's user) unless --state or the jobfile's 'state:' names
    one. A unit run as root keeps what its jobs may need (setuid for user: jobs, a
    writable system); with --user it gets the hardening of a packaged service.

    \b
    Example:
      schedctl systemd-unit /etc/schedctl/jobs.yaml > /etc/systemd/system/schedctl-jobs.service
      systemctl daemon-reload && systemctl enable --now schedctl-jobs
    """
    from schedctl.jobfile.loader import default_state_path, resolve_state
    from schedctl.service.startup import open_jobfile, trust_warnings
    from schedctl.service.unitfile import render_unit, runs_as_root, system_state_path

    loaded = open_jobfile(jobfile, trusted=False)
    others = sorted({spec.user for spec in loaded.jobs.values() if spec.user not in (None, run_as)})
    if run_as and not runs_as_root(run_as) and others:
        raise UsageError(
            f"{jobfile}: jobs run as {', '.join(others)} ('user:'), and only a scheduler run as "
            f"root can switch users; drop --user to run the unit as root, or those 'user:' keys"
        )
    if state or loaded.state:
        location = resolve_state(state, loaded)
        where = location if isinstance(location, str) else str(location.resolve())
    else:  # not the home of whoever prints the unit: the service's user may not reach it
        where = system_state_path(default_state_path(jobfile).name)
    _warn(trust_warnings(jobfile, None if "://" in where else Path(where), uid=_uid(run_as)))
    click.echo(render_unit(jobfile=str(Path(jobfile).resolve()), state=where,
                           executable=_executable(), user=run_as), nl=False)


def _warn(lines: list[str]) -> None:
    for line in lines:
        say(f"schedctl: warning: {line}")


def _uid(name: str | None) -> int | None:
    """The uid of the unit's ``User=``, for the trust check (None: root, or unknown here)."""
    import pwd

    try:
        return pwd.getpwnam(name).pw_uid if name else 0
    except KeyError:
        return None


def _executable() -> str:
    """The installed ``schedctl`` script, so the unit runs the same version."""
    found = shutil.which("schedctl") or str(Path(sys.argv[0]).resolve())
    return str(Path(found).resolve())
