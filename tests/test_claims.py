"""The registry of this process's claims: lookups by slot, releases by attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from schedctl.jobstores.leases import Claim, ClaimRegistry

SLOT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def claim(run_id: int, job_id: str = "a", slot: datetime = SLOT, attempt: int = 1) -> Claim:
    return Claim(run_id, job_id, slot, attempt, lease=None, sent=0.0)


def test_latest_is_the_newest_attempt_of_that_slot_only() -> None:
    claims = ClaimRegistry()
    first, second = claim(1), claim(2, attempt=2)
    other_job, other_slot = claim(3, job_id="b"), claim(4, slot=SLOT + timedelta(minutes=1))
    for c in (second, first, other_job, other_slot):
        claims.add(c)
    assert claims.latest("a", SLOT) is second
    # The same instant in another zone is the same slot.
    assert claims.latest("a", SLOT.astimezone(timezone(timedelta(hours=2)))) is second
    assert claims.latest("b", SLOT) is other_job
    assert claims.latest("a", SLOT + timedelta(minutes=1)) is other_slot
    assert claims.latest("a", SLOT + timedelta(minutes=2)) is None


def test_release_one_attempt_then_all() -> None:
    claims = ClaimRegistry()
    first, second, other = claim(1), claim(2, attempt=2), claim(3, job_id="b")
    for c in (first, second, other):
        claims.add(c)
    claims.release("a", SLOT, attempt=2)
    assert claims.latest("a", SLOT) is first and not claims.holds(second)
    claims.release("a", SLOT)
    assert claims.latest("a", SLOT) is None
    assert claims.all() == [other]


def test_a_run_id_added_again_replaces_its_claim_everywhere() -> None:
    claims = ClaimRegistry()
    old, moved = claim(7), claim(7, slot=SLOT + timedelta(hours=1))
    claims.add(old)
    claims.add(moved)
    assert claims.latest("a", SLOT) is None
    assert claims.latest("a", moved.scheduled_for) is moved
    assert claims.all() == [moved] and claims.holds(moved) and not claims.holds(old)


def test_discard_and_clear_empty_both_lookups() -> None:
    claims = ClaimRegistry()
    claims.add(claim(1))
    claims.add(claim(2, job_id="b"))
    claims.discard(1)
    assert claims.latest("a", SLOT) is None and claims.latest("b", SLOT) is not None
    claims.clear()
    assert claims.latest("b", SLOT) is None and claims.all() == []
