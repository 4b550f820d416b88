"""One ``schedctl run`` node of several sharing a PostgreSQL store.

The node registers under its name (refusing to start if a live process has
it), keeps its runs' leases alive, reaps the runs of nodes that died, starts
the reruns it claimed, and beats a heartbeat that ``schedctl status`` reads.
All of that happens on one thread, every third of a lease, so a node that
stalls stops renewing as a whole - and its shims end its commands in time.

Which jobfile rules when nodes disagree: the most recently modified one. A node
syncs its jobfile into the store only if no newer one is there; otherwise it
runs the store's jobs and says, at start and on every reload, that its own file
differs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from schedctl.clock import Clock
from schedctl.errors import SchedctlError, StoreError
from schedctl.jobfile.digests import sha256
from schedctl.jobfile.specs import Jobfile
from schedctl.jobstores._pg_leases import Rerun
from schedctl.jobstores.postgresql import PostgreSQLJobStore
from schedctl.jobstores.leases import ClaimRegistry, LeaseTerms
from schedctl.state.sync import SyncReport, sync_jobs
from schedctl.timeutil import from_epoch_ms

_logger = logging.getLogger("schedctl.cluster")

#: Settings rows naming the jobfile the store's jobs came from.
JOBFILE_KEYS = ("jobfile_digest", "jobfile_mtime", "jobfile_node", "jobfile_path")


def check_guardable(jobfile: Jobfile) -> None:
    """Refuse command jobs in a process pool: their commands would run in worker
    processes, out of reach of this node's leases, so a node that dies could leave them
    running while another node runs the job again."""
    for spec in jobfile.jobs.values():
        pool = jobfile.executors.get(spec.executor)
        if spec.command is not None and pool is not None and pool.type == "processpool":
            raise SchedctlError(
                f"{jobfile.path}:{spec.line}: jobs.{spec.id}.executor: a command job cannot run "
                f"in the processpool executor {spec.executor!r} on a PostgreSQL state (its "
                "runs could not be guarded by their leases); use a threadpool executor"
            )


def jobfile_digest(jobfile: Jobfile) -> str:
    """What the jobs of a jobfile amount to (comments and layout aside): 12 hex digits."""
    digest = sha256(str(jobfile.timezone).encode())
    for job_id in sorted(jobfile.jobs):
        digest.update(f"\0{job_id}\0{jobfile.jobs[job_id].definition_hash()}".encode())
    return digest.hexdigest()[:12]


class DatabaseTime:
    """A node's clock set to the database's: ``now()`` is this host's time plus the offset
    measured by :meth:`resync`, so everything the node's scheduler judges by the time (how
    late a run is, when a new job first runs, the times it records) agrees with every
    other node's, however far this host's clock is off. Sleeping is the host's own."""

    def __init__(self, clock: Clock, store: PostgreSQLJobStore) -> None:
        self._clock, self._store = clock, store
        self.offset = timedelta(0)

    def resync(self) -> timedelta:
        """Measure the offset again: the database's time against the middle of the query."""
        before = self._clock.now()
        database = self._store.db_now()
        after = self._clock.now()
        self.offset = database - (before + (after - before) / 2)
        return self.offset

    def now(self) -> datetime:
        return self._clock.now() + self.offset

    def wait(self, deadline: datetime | None, wake: threading.Event) -> bool:
        local = None if deadline is None else deadline - self.offset
        return self._clock.wait(local, wake)

    def monotonic(self) -> float:
        return self._clock.monotonic()


class ClusterNode:
    """This process as a node of ``store``; ``start_rerun`` starts a claimed rerun."""

    def __init__(
        self, store: PostgreSQLJobStore, jobfile: Jobfile, *, node_id: str | None = None,
        claims: ClaimRegistry | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id or jobfile.cluster.node or socket.gethostname()
        self.incarnation = uuid.uuid4().hex[:12]
        self.owner = f"{self.node_id}/{self.incarnation}"
        self.lease = LeaseTerms(jobfile.cluster.lease)
        self.jobfile = jobfile
        self.digest = jobfile_digest(jobfile)
        self.claims = claims or store.claims
        self.start_rerun: Callable[[Rerun], None] = lambda rerun: None
        #: Called when another process took this node's name: this one must stop.
        self.name_lost: Callable[[], None] = lambda: None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_digest: str | None = None
        self.time: DatabaseTime | None = None  # the scheduler's clock, kept in step by tend()
        self.draining = False  # set when the node begins to stop
        store.runs_owner, store.lease = self.owner, self.lease

    # -- joining and leaving -------------------------------------------------------------------

    def join(self) -> None:
        """Register; DuplicateNodeError if a live process has this node's name. Runs a
        previous process of this node left behind are orphaned at once (their shims ended
        their commands when it died), so surviving nodes need not wait out their leases."""
        self.store.register_node(
            self.node_id, self.incarnation, hostname=socket.gethostname(), pid=os.getpid(),
            jobfile=os.path.abspath(self.jobfile.path), jobfile_hash=self.digest,
        )
        left = self.store.expire_previous_incarnations(self.node_id)
        if left:
            _logger.warning("%d run(s) of this node's previous process were cut short; "
                            "marking them orphaned", left)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="schedctl-leases", daemon=True)
        self._thread.start()

    def leave(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease.seconds)
        try:
            self.store.node_stopped(self.node_id, self.incarnation)
        except StoreError as exc:
            _logger.warning("Could not note this node's stop in the store: %s", exc)
        self.store.shutdown()  # the scheduler closed it already; the lines above reopened it

    # -- the jobfile ----------------------------------------------------------------------------

    def sync(self, jobfile: Jobfile, now: datetime) -> SyncReport | None:
        """Sync ``jobfile`` into the store unless a more recently modified one is there
        (then None, with a warning); under a lock every node honours."""
        mtime = os.stat(jobfile.path).st_mtime
        mine = jobfile_digest(jobfile)
        # This node's own, applied or not: its digest is what status shows.
        self.jobfile, self.digest = jobfile, mine
        with self.store.exclusive("sync"):
            stored = {key: self.store.get_setting(key) for key in JOBFILE_KEYS}
            if stored["jobfile_digest"] not in (None, mine) and float(stored["jobfile_mtime"] or 0) > mtime:
                self._warn_differs(stored, mine, not_applied=True)
                return None
            path = os.path.abspath(jobfile.path)
            if stored["jobfile_path"] not in (None, path) and stored["jobfile_digest"] != mine:
                _logger.warning(
                    "Replacing the jobs synced from node %s's jobfile %s with this node's %s, "
                    "the most recently modified", stored["jobfile_node"], stored["jobfile_path"],
                    path)
            report = sync_jobs(jobfile, self.store, now)
            self.store.put_settings({
                "jobfile_digest": mine, "jobfile_mtime": repr(mtime), "jobfile_node": self.node_id,
                "jobfile_path": path,
            })
        self._warned_digest = None
        return report

    def _warn_differs(self, stored: dict[str, str | None], mine: str, *, not_applied: bool) -> None:
        if self._warned_digest == stored["jobfile_digest"]:
            return
        self._warned_digest = stored["jobfile_digest"]
        when = from_epoch_ms(int(float(stored["jobfile_mtime"] or 0) * 1000)).isoformat(timespec="seconds")
        _logger.warning(
            "The jobs in %s come from node %s's jobfile %s (digest %s, modified %s), which is "
            "newer than this node's %s (digest %s)%s. Every node runs the store's jobs; deploy "
            "the same jobfile to every node to silence this.",
            self.store.location, stored["jobfile_node"], stored["jobfile_path"],
            stored["jobfile_digest"], when, self.jobfile.path, mine,
            "; it was not applied" if not_applied else "",
        )

    # -- every third of a lease --------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.wait(self.lease.renew_every):
            try:
                self.tend()
            except Exception:  # a bug here must not end lease keeping, and every command with it
                _logger.exception("Error keeping this node's leases; trying again")

    def tend(self) -> None:
        """One round: renew leases (fencing the lost ones), reap, start reruns, heartbeat,
        and measure the offset to the database's clock again."""
        self._renew()
        self._reap()
        self._heartbeat()
        if self.time is not None:
            try:
                self.time.resync()
            except StoreError:
                pass  # the last offset stands; the database is being waited for anyway

    def _renew(self) -> None:
        try:
            _, fenced = self.store.renew_leases(self.claims.leased())
        except StoreError as exc:
            # The shims keep counting down: if this lasts, they end the commands in time.
            _logger.warning("Could not renew this node's leases: %s", exc)
            return
        # A run that ended while the renewal was on its way was released, not fenced.
        for claim in (c for c in fenced if self.claims.holds(c)):
            _logger.error("%s: lost the lease of the run scheduled for %s (run %d); ending its "
                          "command, another node may take the run over", claim.job_id,
                          claim.scheduled_for.isoformat(), claim.run_id)
            claim.fence()

    def _reap(self) -> None:
        if self.draining:  # a stopping node starts nothing, reruns included
            return
        try:
            reruns = self.store.reap_expired()
        except StoreError as exc:
            _logger.warning("Could not look for orphaned runs: %s", exc)
            return
        for rerun in reruns:
            _logger.warning("%s: rerunning the orphaned run scheduled for %s here (attempt %d)",
                            rerun.job.id, rerun.claim.scheduled_for.isoformat(), rerun.claim.attempt)
            self.start_rerun(rerun)

    def _heartbeat(self) -> None:
        try:
            mine = self.digest  # computed once per jobfile: it hashes every job definition
            if not self.store.heartbeat_node(self.node_id, self.incarnation, mine):
                _logger.error("Another process has taken over the node name %r (this one was "
                              "taken for dead); stopping", self.node_id)
                self.name_lost()
            digest = self.store.get_setting("jobfile_digest")
            if digest is not None and digest != mine:
                stored = {key: self.store.get_setting(key) for key in JOBFILE_KEYS}
                self._warn_differs(stored, mine, not_applied=False)
        except StoreError as exc:
            _logger.debug("Could not beat the heartbeat: %s", exc)
