"""Start-up of ``schedctl run``: the checks, the jobfile, the store, and the first pass.

Everything here happens once, before the scheduler starts: the jobfile is checked
and loaded with its directory importable, the state store is opened (and locked,
for a SQLite file), and the jobs are synced, caught up and started after a boot.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from schedctl.crontab.build import load_any
from schedctl.crontab.files import STDIN
from schedctl.errors import JobLookupError, StaleJobError
from schedctl.executors.base import BaseExecutor
from schedctl.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from schedctl.job import Job
from schedctl.jobfile.addresses import ListenAddress
from schedctl.jobfile.loader import JobfileError, Problem, resolve_state
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.sqlite import SQLiteJobStore
from schedctl.service.importguard import guard_imports
from schedctl.service.jobwarnings import log_job_warnings
from schedctl.service.runas import check_run_as
from schedctl.service.logfmt import LogFormat, current_format, setup_logging
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.state.runlock import RunLock
from schedctl.state.stores import check_state_trusted
from schedctl.state.sync import SyncReport, sync_jobs
from schedctl.triggers.boot import BootTrigger, current_boot_id
from schedctl.trust import (
    allowed_import_directory,
    check_trusted,
    import_directory_problem,
    is_insecure,
    set_insecure,
    trust_problem,
    user_name,
)

if TYPE_CHECKING:
    from schedctl.cluster.node import ClusterNode

_logger = logging.getLogger("schedctl.run")


@dataclass(frozen=True)
class ServeOptions:
    jobfile: str
    state: str | None = None
    shutdown_timeout: float = 30.0
    insecure: bool = False
    node: str | None = None  # this node's name in a PostgreSQL store (default: cluster.node)
    metrics: ListenAddress | None = None  # overrides the jobfile's metrics: listen:
    crontab: bool | None = None  # True: the file is a crontab; None: decided by its content
    system: bool | None = None  # True: a crontab with a user column; None: decided by its path


def add_import_path(directory: str | None) -> None:
    """Let ``call:`` jobs import modules that sit beside the jobfile (also in pool workers).

    Appended, after the standard library and site-packages: a module there can never be
    shadowed by a file of the same name beside the jobfile. Each module found there passes
    the trust rule before it is loaded (see :mod:`schedctl.service.importguard`).
    """
    if directory is None:
        return
    guard_imports(directory)
    if directory not in sys.path:
        sys.path.append(directory)


def prepare_worker(directory: str | None, insecure: bool, log_format: LogFormat | None) -> None:
    """A process pool worker imports as the scheduler does: from the same directory, with
    the same checks and the same ``--insecure`` (a worker does not inherit it); and it logs
    (a job's own ``logging`` included) in the format of the scheduler's log."""
    set_insecure(insecure)
    add_import_path(directory)
    if log_format is not None:
        setup_logging(log_format)
        quiet_engine_logs()


def quiet_engine_logs() -> None:
    """RunLog writes one line per run; the engine's own per-run lines would repeat it."""
    logging.getLogger("schedctl.executors").setLevel(logging.CRITICAL)
    logging.getLogger("schedctl.scheduler").setLevel(logging.ERROR)


def import_directory(jobfile_path: str) -> str | None:
    """The jobfile's directory, when ``call:`` modules may be imported from it: only if it
    passes the trust rule and nobody else may add files to it (a sticky directory lets
    anyone plant a module); ``--insecure`` lets it in all the same, with a warning."""
    directory = str(Path(jobfile_path).resolve().parent)
    return directory if allowed_import_directory(directory) else None


def open_jobfile(
    path: str, *, crontab: bool | None = None, system: bool | None = None, trusted: bool = True,
) -> Jobfile:
    """Load a jobfile, or a crontab converted as ``schedctl import`` would (see
    :func:`load_any`), refusing one that another user could change (``trusted``: the check
    of :mod:`schedctl.trust`, at start and at every reload), with its directory importable
    when it may be, so ``call:`` targets can be checked. A target that cannot be imported
    from a directory kept off the import path gets the reason as a problem."""
    if trusted:
        check_trusted(path)
    directory = None if path == STDIN else import_directory(path)  # stdin has no directory
    add_import_path(directory)
    try:
        return load_any(path, crontab=crontab, system=system, check_trust=trusted)
    except JobfileError as exc:
        kept_off = None if directory or path == STDIN else import_directory_problem(
            Path(path).resolve().parent)
        if kept_off is None or not any(p.message.startswith("cannot import") for p in exc.problems):
            raise
        note = Problem(path, 0, 0, "", f"modules beside the jobfile are not imported: {kept_off}")
        raise JobfileError([*exc.problems, note]) from None


def trust_warnings(
    jobfile_path: str, state: Path | str | None = None, *, uid: int | None = None
) -> list[str]:
    """What ``schedctl run`` (as ``uid``) would refuse to trust: the jobfile, and a state
    file. For ``validate`` and ``systemd-unit``, which warn and go on."""
    found = [(jobfile_path, trust_problem(jobfile_path, uid=uid))]
    if isinstance(state, Path):
        found.append((str(state), trust_problem(state, uid=uid)))
    return [f"{path}: schedctl run would refuse it: {problem}"
            for path, problem in found if problem is not None]


def build_executors(jobfile: Jobfile) -> dict[str, BaseExecutor]:
    directory = import_directory(jobfile.path)
    executors: dict[str, BaseExecutor] = {"default": ThreadPoolExecutor(20)}
    for name, spec in jobfile.executors.items():
        if spec.type == "processpool":
            pool = {"initializer": prepare_worker,
                    "initargs": (directory, is_insecure(), current_format())}
            executors[name] = ProcessPoolExecutor(spec.max_workers, pool_kwargs=pool)
        else:
            executors[name] = ThreadPoolExecutor(spec.max_workers)
    return executors


@contextmanager
def opened_store(
    options: ServeOptions,
) -> Iterator[tuple[Jobfile, SQLJobStore, ClusterNode | None]]:
    """Check and load the jobfile, then open the store it names: a PostgreSQL store joined
    as one node of several, or a SQLite file held under its run lock until the end."""
    set_insecure(options.insecure)
    if options.insecure:
        _logger.warning(
            "--insecure: files that other users can change are used anyway (the jobfile, "
            "env_file, call: modules, the state file); commands they name run as %s. "
            "Each such file is logged below", user_name())
    jobfile = open_jobfile(options.jobfile, crontab=options.crontab, system=options.system)
    check_run_as(jobfile)
    log_job_warnings(jobfile)
    location = resolve_state(options.state, jobfile)
    if isinstance(location, str):  # a PostgreSQL store: one node of several
        from schedctl.cluster.node import ClusterNode, check_guardable
        from schedctl.jobstores.postgresql import PostgreSQLJobStore

        check_guardable(jobfile)
        shared = PostgreSQLJobStore(location)
        node = ClusterNode(shared, jobfile, node_id=options.node)
        node.join()
        yield jobfile, shared, node
        return
    state_path = str(location)
    check_state_trusted(state_path)
    with RunLock(state_path):
        # Again now that they exist: a directory another user made in a sticky one between
        # the check and their creation would hold them.
        check_state_trusted(state_path)
        # The lock makes this the file's only scheduler: it may run from memory when the file fails.
        yield jobfile, SQLiteJobStore(path=state_path, keep_schedule_on_error=True), None


class StartupSteps:
    """Mixed into Service: the work done once before its scheduler starts."""

    jobfile: Jobfile
    store: SQLJobStore
    history: RunHistory
    node: ClusterNode | None
    owner: str
    _start_note: str | None

    def _sync_at_start(self, now: datetime) -> SyncReport:
        if self.node is not None:
            report = self.node.sync(self.jobfile, now)
            if report is None:
                self._start_note = "running the store's jobs (this node's jobfile was not applied)"
            return report or SyncReport()
        interrupted = self.history.interrupt_unfinished(at=now)
        if interrupted:
            _logger.warning("%d run(s) were cut short when schedctl last stopped; marked interrupted", interrupted)
        return sync_jobs(self.jobfile, self.store, now)

    def _catch_up(self, now: datetime) -> None:
        """``catch_up: true``: a job whose runs were missed while schedctl was down runs once now."""
        for job in self.store.get_all_jobs():
            if not job.meta.get("catch_up") or job.next_run_time is None or not _missed(job, now):
                continue
            missed_from = job.next_run_time
            job.next_run_time = job.trigger.get_next_fire_time(None, now)
            try:
                if job.next_run_time is None:
                    self.store.remove_job(job.id)
                else:
                    self.store.update_job(job)
            except (StaleJobError, JobLookupError):
                continue  # another node ran or changed it meanwhile: nothing is missed
            self.history.finished(job.id, missed_from, RunOutcome(
                "missed", now, error="missed while schedctl was down; caught up at start-up"),
                owner=self.owner)
            if job.next_run_time is not None:
                self.store.request_run(job.id, now)
            _logger.info("%s: runs were missed while schedctl was down; running it once now", job.id)

    def _run_boot_jobs(self, now: datetime) -> None:
        """Start each ``@reboot`` job that has not run since the machine booted."""
        boot_id = current_boot_id()
        if boot_id is None:
            return
        for job in self.store.get_all_jobs():
            # Several nodes: each runs it once after each boot of its own host.
            key = job.id if self.node is None else f"{job.id}@{self.node.node_id}"
            if isinstance(job.trigger, BootTrigger) and self.history.claim_boot_run(key, boot_id):
                self.store.request_run(job.id, now)
                _logger.info("%s: first start since boot; running it now", job.id)


def _missed(job: Job, now: datetime) -> bool:
    """Whether the job's pending run is too late to run at all; a run still within its
    misfire grace time simply runs late, and needs no catching up."""
    assert job.next_run_time is not None
    grace = job.misfire_grace_time
    return now - job.next_run_time > timedelta(seconds=grace if grace is not None else 0)
