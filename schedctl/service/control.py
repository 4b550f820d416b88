"""Changing a state file from outside the scheduler: pause, resume, run a job here.

Each change is a compare-and-set on the job's version, retried if the running
scheduler advanced the job meanwhile, so neither side's write is lost.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime

from schedctl.clock import Clock, SystemClock
from schedctl.state.audit import AuditEntry, AuditLog, Requester
from schedctl.commands.jobrunner import ATTEMPT_LISTENERS
from schedctl.errors import JobLookupError, StaleJobError
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.jobstores.base import BaseJobStore
from schedctl.service.foreground import foreground_signals, interrupted, run_in_foreground
from schedctl.service.jobguard import JobfileGuard
from schedctl.service.runlog import RunLog, outcome_of
from schedctl.service.startup import open_jobfile
from schedctl.state.history import RunHistory, RunOutcome
from schedctl.state.stores import check_state_trusted
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

_CAS_ATTEMPTS = 20


def known_ids(store: BaseJobStore) -> list[str]:
    return [job.id for job in store.get_all_jobs()]


def check_ids(store: BaseJobStore, job_ids: tuple[str, ...] | list[str]) -> None:
    """Refuse a whole command before changing anything if one id is unknown."""
    for job_id in job_ids:
        if store.lookup_job(job_id) is None:  # the full list only for the message
            raise JobLookupError(job_id, known_ids(store))


def note_request(
    store: SQLJobStore, action: str, job_id: str, *, changed: bool, at: datetime
) -> None:
    """Leave the running scheduler a line to log: what was asked, and by whom."""
    AuditLog(store).record(AuditEntry(at, action, job_id, changed, Requester.of_this_process()))


def set_paused(store: BaseJobStore, job_id: str, paused: bool, now: datetime) -> bool:
    """Pause or resume (from ``now``) one job; False when it already was in that state."""
    for _ in range(_CAS_ATTEMPTS):
        job = store.lookup_job(job_id)
        if job is None:
            raise JobLookupError(job_id, known_ids(store))
        if (job.next_run_time is None) == paused:
            return False
        job.next_run_time = None if paused else job.trigger.get_next_fire_time(None, now)
        try:
            store.update_job(job)
        except StaleJobError:
            continue
        return True
    raise StaleJobError(job_id)


def jobfile_to_run_here(
    store: SQLJobStore, history: RunHistory, given: str | None
) -> Jobfile | None:
    """The jobfile that a job run here must match, trust-checked with the state file: the
    one given (``-f``), else the one the last ``schedctl run`` of this file ran. None on a
    shared store, whose database is trusted as its credentials are, and for a state file
    that no ``schedctl run`` ever ran (filled through the Python API): having passed the
    trust rule, it is as trusted as a jobfile would be."""
    if store.shared:
        return None
    check_state_trusted(store.location)
    path = given
    if path is None:
        presence = history.presence()
        path = presence.jobfile if presence else None
    return open_jobfile(path) if path is not None else None


def run_here(
    store: BaseJobStore, history: RunHistory, job_id: str, clock: Clock | None = None, *,
    jobfile: Jobfile | None = None,
) -> RunOutcome:
    """Run a job once in this process (no scheduler is running) and record it in the history.

    A SIGINT, SIGTERM or SIGHUP meanwhile stops it and records it as interrupted, with
    the signal (``foreground``). With a ``jobfile``, what runs is the jobfile's own
    definition, and only if the store's matches it (UnboundJobError otherwise): the state
    file never decides what runs.
    """
    clock = clock or SystemClock()
    job = store.lookup_job(job_id)
    if job is None:
        raise JobLookupError(job_id, known_ids(store))
    if jobfile is not None:
        job = JobfileGuard(jobfile).check(job)
    owner = f"{socket.gethostname()}/{os.getpid()}"
    started = from_epoch_ms(to_epoch_ms(clock.now()))  # as precise as the history keeps it
    with foreground_signals() as gate:
        history.started(job_id, started, at=started, owner=owner, reason="run-now")
        # As under a scheduler: the command sees its scheduled time, and each retry gets its row.
        runlog = RunLog(history, clock, owner, reason="run-now")
        ATTEMPT_LISTENERS.append(runlog.attempt_failed)
        try:
            event = run_in_foreground(job, started, gate)
        finally:
            ATTEMPT_LISTENERS.remove(runlog.attempt_failed)
        if gate.first is not None:
            outcome = interrupted(event, gate.first, started, clock.now())
        else:
            assert event is not None
            if event.exception is not None:
                logging.getLogger("schedctl.run").debug(
                    "Job %s failed", job_id, exc_info=event.exception)
            outcome = outcome_of(event, clock.now())
        history.finished(job_id, started, outcome, owner=owner, reason="run-now")
    return outcome
