"""Claims: the runs this node holds, each by a lease row in the shared store.

A claim is one attempt of one run, named by its ``run_id`` (never reused: the
fencing token). When the store grants leases, the claim also carries the
deadline its command's shim enforces: ``sent + seconds - margin``, where
``sent`` is when the claim or the last successful renewal was *sent*, no later
than the database started the lease. So the command is dead before the
database can call the lease expired, whatever happens to this process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from schedctl.timeutil import to_epoch_ms

#: The lease a run holds by default, and the share of it kept as a safety margin.
DEFAULT_LEASE_SECONDS = 30.0
MARGIN_SHARE = 0.2


@dataclass(frozen=True)
class LeaseTerms:
    """How long a lease lasts; renewals and reaping come every third of it."""

    seconds: float = DEFAULT_LEASE_SECONDS

    @property
    def margin(self) -> float:
        """How long before the database's expiry the shim kills the command: it covers the
        drift of this host's clock rate over one lease, and the time to die."""
        return self.seconds * MARGIN_SHARE

    @property
    def renew_every(self) -> float:
        return self.seconds / 3


@dataclass(eq=False)
class Claim:
    """One attempt of one run held by this node (see the module docstring)."""

    run_id: int
    job_id: str
    scheduled_for: datetime
    attempt: int
    lease: LeaseTerms | None
    sent: float  # time.monotonic() when the claim was sent
    fenced: bool = False
    _send: Callable[[float], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def leased(self) -> bool:
        return self.lease is not None

    # -- the command runner's side (LeaseLink) ------------------------------------------------

    def first_deadline(self) -> float:
        """The monotonic time the shim kills the command unless told otherwise."""
        assert self.lease is not None
        return self.sent + self.lease.seconds - self.lease.margin

    def bind(self, send: Callable[[float], None]) -> None:
        with self._lock:
            self._send = None if self.fenced else send
        # The shim started with the deadline read before it was spawned; a renewal since
        # then moved it on. Fenced before the command even started: end it now.
        send(0.0 if self.fenced else self.first_deadline())

    def unbind(self) -> None:
        with self._lock:
            self._send = None

    # -- the lease keeper's side ---------------------------------------------------------------

    def renewed(self, sent: float) -> None:
        """The renewal sent at ``sent`` succeeded: move the shim's deadline on."""
        assert self.lease is not None
        with self._lock:
            self.sent = sent
            send = self._send
        if send is not None:
            send(self.first_deadline())

    def fence(self) -> None:
        """The lease is lost: the command must end now, and its result is not written."""
        with self._lock:
            self.fenced = True
            send = self._send
        if send is not None:
            send(0.0)  # a deadline in the past: the shim kills at once


class ClaimRegistry:
    """The claims of this process, by run id and by (job, slot).

    Every run of a command job asks for its claim (``latest``) as it starts: the slot
    index keeps that one lookup however many runs are in flight, where a scan of all
    claims made 500 runs due at once cost 125,000 comparisons.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_run: dict[int, Claim] = {}
        self._by_slot: dict[tuple[str, int], dict[int, Claim]] = {}

    def add(self, claim: Claim) -> None:
        with self._lock:
            self._forget(claim.run_id)
            self._by_run[claim.run_id] = claim
            key = (claim.job_id, to_epoch_ms(claim.scheduled_for))
            self._by_slot.setdefault(key, {})[claim.run_id] = claim

    def latest(self, job_id: str, scheduled_for: datetime) -> Claim | None:
        """The newest attempt this node holds of the run ``(job_id, scheduled_for)``."""
        with self._lock:
            found = list(self._by_slot.get((job_id, to_epoch_ms(scheduled_for)), {}).values())
        return max(found, key=lambda c: c.attempt, default=None)

    def release(
        self, job_id: str, scheduled_for: datetime, attempt: int | None = None, *,
        through: int | None = None,
    ) -> None:
        """Forget the claims of a run that ended: one ``attempt``, the attempts up to
        ``through`` (a later one may be a rerun this node's reaper claimed meanwhile), or
        all of them."""
        with self._lock:
            held = self._by_slot.get((job_id, to_epoch_ms(scheduled_for)), {})
            for run_id in [r for r, c in held.items()
                           if (attempt is None or c.attempt == attempt)
                           and (through is None or c.attempt <= through)]:
                self._forget(run_id)

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` is still this node's (not released since it was listed)."""
        with self._lock:
            return self._by_run.get(claim.run_id) is claim

    def discard(self, run_id: int) -> None:
        with self._lock:
            self._forget(run_id)

    def leased(self) -> list[Claim]:
        """The claims whose leases must be renewed."""
        with self._lock:
            return [c for c in self._by_run.values() if c.leased and not c.fenced]

    def all(self) -> list[Claim]:
        with self._lock:
            return list(self._by_run.values())

    def clear(self) -> None:
        with self._lock:
            self._by_run.clear()
            self._by_slot.clear()

    def _forget(self, run_id: int) -> None:
        """Drop one claim from both indexes; the caller holds the lock."""
        claim = self._by_run.pop(run_id, None)
        if claim is None:
            return
        key = (claim.job_id, to_epoch_ms(claim.scheduled_for))
        held = self._by_slot.get(key)
        if held is not None:
            held.pop(run_id, None)
            if not held:
                del self._by_slot[key]


#: The claims of this process: the store adds them, the command runner reads them.
CLAIMS = ClaimRegistry()
