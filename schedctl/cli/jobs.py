"""The commands that read or steer a state file: list, pause, resume, run-now, next, history, status."""

from __future__ import annotations

import gc
from datetime import datetime
from typing import TYPE_CHECKING

import click

from schedctl.cli.group import main
from schedctl.cli.common import (
    MAX_HISTORY_SHOWN, MAX_RUNS_SHOWN, StateMissingError, TimeBound, UsageError, json_option,
    open_state, state_options,
)
from schedctl.clock import SystemClock
from schedctl.errors import JobLookupError

if TYPE_CHECKING:
    from schedctl.jobstores._sqlstore import SQLJobStore


@main.command("list", short_help="Show every job: schedule, next run, latest outcomes.")
@state_options
@json_option
def list_jobs(state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Show every job: schedule, next run, state, last run and the latest outcomes.

    The RECENT column shows the latest runs, newest right: ✔ success, ✘ failure,
    ⏭ missed or skipped, ↷ replaced, … running (+ x > ~ * without UTF-8, or with
    NO_COLOR); - a job that has not run yet. The table fits the terminal's width
    (COLUMNS), dropping detail on narrow ones. With no scheduler running, a
    warning says so and past next runs show as overdue.

    \b
    Examples:
      schedctl list -f jobs.yaml
      schedctl list --state /var/lib/schedctl/jobs.db --json
    """
    # Reading and printing make no reference cycles, only many objects: without the cycle
    # collector's passes over them (and over the modules loaded here), a list of 1,000 jobs
    # takes 3 ms less.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _list_jobs(state, jobfile, as_json)
    finally:
        if collecting:
            gc.enable()


def _list_jobs(state: str | None, jobfile: str | None, as_json: bool) -> None:
    from schedctl.cli import output
    from schedctl.cli.jobtable import jobs_table
    from schedctl.state.stores import is_shared
    from schedctl.state.views import job_views, last_heartbeat, scheduler_running

    store, history = open_state(state, jobfile)
    views = job_views(store, history)
    if as_json:
        output.print_json([view.to_json() for view in views])
        return
    now = SystemClock().now()
    running = scheduler_running(store)
    if not running and views:
        click.echo(output.not_running_note(last_heartbeat(store, history), now,
                                           shared=is_shared(store)), err=True)
    jobs_table(views, now, scheduler_running=running)


@main.command(short_help="Stop jobs from running until they are resumed.")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@state_options
@json_option
def pause(job_ids: tuple[str, ...], state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Stop JOB from running until 'schedctl resume'; survives restarts and jobfile edits.

    A running 'schedctl run' obeys within a second. Runs already going are not stopped.

    \b
    Examples:
      schedctl pause -f jobs.yaml backup reports
      schedctl pause -f jobs.yaml backup --json
    """
    from schedctl.cli import output
    from schedctl.service.control import check_ids, note_request, set_paused
    from schedctl.state.stores import store_now

    store, _ = open_state(state, jobfile)
    check_ids(store, job_ids)
    now = store_now(store)
    changes = [(job_id, set_paused(store, job_id, True, now)) for job_id in job_ids]
    for job_id, changed in changes:  # the running scheduler logs who paused what
        note_request(store, "pause", job_id, changed=changed, at=now)
    if as_json:
        output.print_json([{"id": job_id, "paused": True, "changed": changed}
                           for job_id, changed in changes])
        return
    for job_id, changed in changes:
        click.echo(f"{job_id}: {'paused' if changed else 'already paused'}")


@main.command(short_help="Let paused jobs run again.")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@state_options
@json_option
def resume(job_ids: tuple[str, ...], state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Let a paused JOB run again, from its next fire time after now.

    \b
    Examples:
      schedctl resume -f jobs.yaml backup
      schedctl resume -f jobs.yaml backup --json
    """
    from schedctl.cli import output
    from schedctl.service.control import check_ids, note_request, set_paused
    from schedctl.state.stores import store_now
    from schedctl.state.views import zone_name

    store, _ = open_state(state, jobfile)
    check_ids(store, job_ids)
    now = store_now(store)
    results = []
    for job_id in job_ids:
        changed = set_paused(store, job_id, False, now)
        note_request(store, "resume", job_id, changed=changed, at=now)
        job = store.lookup_job(job_id)
        results.append((job_id, changed, job.next_run_time if job else None,
                        zone_name(job) if job else None))
    if as_json:
        output.print_json([
            {"id": job_id, "paused": False, "changed": changed,
             "next_run_time": when.isoformat() if when else None}
            for job_id, changed, when, _ in results
        ])
        return
    for job_id, changed, when, zone in results:
        shown = output.local(when, output.zone_of(zone)) if when else "never"
        click.echo(f"{job_id}: {'resumed' if changed else 'not paused'}, next run {shown}")


@main.command("run-now", short_help="Run a job once, as soon as possible.")
@click.argument("job_id", metavar="JOB")
@state_options
@json_option
@click.option("--insecure", is_flag=True,
              help="Run here even if the jobfile or state file could be changed by another user.")
def run_now(job_id: str, state: str | None, jobfile: str | None, as_json: bool,
            insecure: bool) -> None:
    """Run JOB once, as soon as possible, leaving its schedule alone.

    With a 'schedctl run' on this state file, that scheduler runs it (its
    history and log show the run). Without one, it runs here, in the
    foreground, as the jobfile declares it (the one given with -f, else the
    one the last 'schedctl run' used), and the exit code says whether it
    succeeded.

    \b
    Examples:
      schedctl run-now -f jobs.yaml backup
      schedctl run-now -f jobs.yaml backup --json
    """
    from schedctl.cli import output
    from schedctl.commands.outcome import summarize
    from schedctl.service.control import jobfile_to_run_here, known_ids, note_request, run_here
    from schedctl.state.stores import store_now
    from schedctl.state.views import scheduler_running

    store, history = open_state(state, jobfile)
    if store.lookup_job(job_id) is None:
        raise JobLookupError(job_id, known_ids(store))
    if scheduler_running(store):
        now = store_now(store)
        note_request(store, "run-now", job_id, changed=True, at=now)  # its log says who asked
        store.request_run(job_id, now)
        if as_json:
            output.print_json({"id": job_id, "requested": True, "outcome": None})
        else:
            click.echo(f"{job_id}: run requested from the running scheduler")
        return
    from schedctl.service.logfmt import setup_logging
    from schedctl.trust import set_insecure

    setup_logging()
    set_insecure(insecure)
    outcome = run_here(store, history, job_id, jobfile=jobfile_to_run_here(store, history, jobfile))
    if as_json:
        output.print_json({"id": job_id, "requested": False, "outcome": outcome.to_json()})
    else:
        click.echo(f"{job_id}: " + summarize(outcome.state, exit_code=outcome.exit_code,
                                             signal=outcome.signal, error=outcome.error))
    if outcome.state == "interrupted" and outcome.signal:
        raise SystemExit(128 + outcome.signal)  # as a shell reports a command a signal ended
    raise SystemExit(0 if outcome.state == "success" else 1)


def _check_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from schedctl.jobfile.triggerkeys import timezone_problem

    problem = None if value is None else timezone_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@main.command("next", short_help="Show the upcoming run times of a job or a cron line.")
@click.argument("job_id", metavar="[JOB]", required=False)
@click.option("--cron", "expr", metavar="EXPR",
              help="Show the runs of a crontab expression instead of a job.")
@click.option("--timezone", "zone", metavar="TZ", callback=_check_zone,
              help="Time zone for --cron, such as Europe/Berlin (default: the machine's zone).")
@click.option("-n", "--count", default=5, show_default=True,
              type=click.IntRange(1, MAX_RUNS_SHOWN), metavar="COUNT",
              help="How many runs to show.")
@state_options
@json_option
def next_runs(job_id: str | None, expr: str | None, zone: str | None, count: int,
              state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Show the upcoming run times of JOB, or of a crontab expression.

    \b
    Examples:
      schedctl next -f jobs.yaml backup -n 3
      schedctl next --cron "30 2 * * 1-5" --timezone Europe/Berlin
    """
    from schedctl.cli import output
    from schedctl.service.control import known_ids
    from schedctl.triggers.base import BaseTrigger
    from schedctl.state.views import fire_times, jitter_of

    now = SystemClock().now()
    if (job_id is None) == (expr is None):
        raise UsageError("give either a JOB or --cron EXPR")
    if expr is not None:
        from schedctl.triggers.cron import CronTrigger

        try:
            trigger: BaseTrigger = CronTrigger.from_crontab(expr, timezone=zone)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--cron: {exc}") from None
        first = None
    else:
        store, _ = open_state(state, jobfile)
        job = store.lookup_job(job_id or "")
        if job is None:
            raise JobLookupError(job_id or "", known_ids(store))
        trigger, first = job.trigger, job.next_run_time
    times = fire_times(trigger, now, count, first=first)
    tz = getattr(trigger, "timezone", None)
    if as_json:
        output.print_json([t.isoformat() for t in times])
        return
    from schedctl.triggers.boot import BootTrigger

    if isinstance(trigger, BootTrigger):
        click.echo(f"{job_id} runs once after each boot (@reboot), at no set time")
        return
    if expr is None and first is None and times:
        click.echo(f"schedctl: note: {job_id} is paused; it runs at these times once resumed",
                   err=True)
    output.times_list(times, now, tz)
    if times and (note := output.jitter_note(jitter_of(trigger))):
        click.echo(note)


@main.command(short_help="Show the run history, or each job summed up (--stats).")
@click.argument("job_id", metavar="[JOB]", required=False)
@click.option("-n", "--count", "limit", default=20, show_default=True,
              type=click.IntRange(1, MAX_HISTORY_SHOWN), metavar="COUNT",
              help="How many runs to show.")
@click.option("--failed", is_flag=True,
              help="Only runs that failed: failed, timeout, killed, not_started, error, "
                   "interrupted or orphaned.")
@click.option("--output", "show_output", is_flag=True, help="Show the captured output tail of each run.")
@click.option("--since", type=TimeBound(),
              help="Only runs scheduled at or after this time: a duration back from now (7d, "
                   "12h) or a date and time (2026-03-01, '2026-03-01 14:00'; local time unless "
                   "it has an offset).")
@click.option("--until", type=TimeBound(),
              help="Only runs scheduled before this time; written as for --since.")
@click.option("--stats", is_flag=True,
              help="Sum up each job's runs instead: runs, success rate, missed, skipped "
                   "and replaced counts, p50/p95/max duration, a sparkline of the latest durations, and "
                   "the last failure with its reason.")
@state_options
@json_option
def history(job_id: str | None, limit: int, failed: bool, show_output: bool,
            since: datetime | None, until: datetime | None, stats: bool,
            state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Show the run history, newest first: scheduled time, start, duration, attempt, outcome.

    \b
    Outcomes: success, failed (non-zero exit), timeout, killed (by a signal),
    not_started, error (a Python job raised), interrupted (schedctl stopped
    during the run), orphaned (its node died; PostgreSQL only), replaced
    (stopped for a newer run by overlap: replace; not a failure), missed (too
    late to run), skipped (previous run still going).
    With --stats, every attempt counts as a run; missed, skipped and replaced
    runs are counted apart.
    \b
    Examples:
      schedctl history -f jobs.yaml backup -n 5 --output
      schedctl history -f jobs.yaml --failed --json --since 2026-03-01 --until 2026-03-02
      schedctl history -f jobs.yaml --stats --since 7d
    """
    from schedctl.cli import output
    from schedctl.service.control import known_ids

    if stats and (failed or show_output):
        raise UsageError("--stats sums up every run: --failed and --output do not apply to it")
    store, run_history = open_state(state, jobfile)
    if job_id is not None and store.lookup_job(job_id) is None and not run_history.runs(job_id, limit=1):
        raise JobLookupError(job_id, known_ids(store))
    if stats:
        _history_stats(store, job_id, since, until, as_json)
        return
    records = run_history.runs(job_id, limit=limit, failed_only=failed, since=since, until=until)
    if as_json:
        output.print_json([record.to_json() for record in records])
    else:
        from schedctl.state.views import job_zones

        output.history_table(records, SystemClock().now(), show_output=show_output,
                             zones=job_zones(store),
                             empty="" if records else output.no_runs_line(
                                 job_id=job_id, failed=failed, since=since, until=until,
                                 total=run_history.count(), of_job=run_history.count(job_id)))


def _history_stats(store: SQLJobStore, job_id: str | None, since: datetime | None,
                   until: datetime | None, as_json: bool) -> None:
    from schedctl.cli import output
    from schedctl.cli.stats import stats_blocks
    from schedctl.state.stats import stat_rows
    from schedctl.state.stats import job_stats

    rows = stat_rows(store, job_id, since=since, until=until)
    known = [job_id] if job_id is not None else [job.id for job in store.get_all_jobs()]
    summaries = job_stats(rows, known)
    if as_json:
        output.print_json([summary.to_json() for summary in summaries])
    else:
        stats_blocks(summaries, SystemClock().now())


@main.command(short_help="Show whether a scheduler runs, job counts, failures.")
@state_options
@json_option
def status(state: str | None, jobfile: str | None, as_json: bool) -> None:
    """Show whether a scheduler runs on this state file, job counts and recent failures.

    Exits 0 when a scheduler is running, 3 when none is (like 'systemctl status'),
    also when the state file does not exist yet; 1 on an error.

    \b
    Example:
      schedctl status -f jobs.yaml
    """
    from schedctl.cli import output
    from schedctl.state.statusview import status_view

    try:
        store, run_history = open_state(state, jobfile)
    except StateMissingError as exc:  # nothing has run here: "not running", not an error
        _no_state(str(exc.path), as_json)
        raise SystemExit(3) from None
    now = SystemClock().now()
    view = status_view(store, run_history, now)
    if as_json:
        output.print_json(view.to_json())
    else:
        output.status_panel(view, now)
    raise SystemExit(0 if view.running else 3)


def _no_state(path: str, as_json: bool) -> None:
    from schedctl.cli import output

    if as_json:
        output.print_json({"state": path, "running": False, "exists": False})
    else:
        output.console().print(f"not running: no state file at {path} yet ('schedctl run' "
                               "creates it)", markup=False)
