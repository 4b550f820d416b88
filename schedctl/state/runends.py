"""How a run's end is written to the ``runs`` table: the update of its row (fenced by the
lease), the row of a run that never started, and pruning a job's oldest rows.

Apart from :mod:`schedctl.state.history`, which decides when each is written.
"""

from __future__ import annotations

from typing import Any

from schedctl.jobstores._sqlrows import Connection

#: Outcomes of runs that never began: they have no start time and no duration.
NEVER_STARTED = ("skipped", "missed")


def end_run(
    conn: Connection, key: tuple[Any, ...], ended: tuple[Any, ...], owner: str, state: str
) -> bool:
    """Write how the run's existing row ended; False when there is no such row, or it
    is leased and the lease is no longer this node's."""
    never = state in NEVER_STARTED
    return bool(conn.execute(
        "UPDATE runs SET state = ?, finished_at = ?,"
        " duration = CASE WHEN ? THEN NULL ELSE coalesce(?, (? - started_at) / 1000.0) END,"
        " started_at = CASE WHEN ? THEN NULL ELSE started_at END,"
        " exit_code = ?, signal = ?, error = ?, output = ?, missed_runs = ?"
        " WHERE job_id = ? AND scheduled_for = ? AND reason = ? AND attempt = ?"
        " AND (lease_expires_at IS NULL"
        " OR (owner = ? AND state = 'running' AND lease_expires_at > now_ms()))",
        (ended[0], ended[1], never, ended[2], ended[1], never, *ended[3:], *key, owner),
    ).rowcount)


def write_outcome(
    conn: Connection, key: tuple[Any, ...], ended: tuple[Any, ...], owner: str, state: str
) -> bool:
    """End the run's row, or insert one for a run that never started; False, and nothing
    written, when the row is leased to another node now (fenced)."""
    # The run's row exists if it started; missed and skipped runs never started.
    # A leased row is this node's to end only while the lease holds (fencing).
    # A claimed run the executor then refused (skipped) never started after all.
    if end_run(conn, key, ended, owner, state):
        return True
    if conn.execute(
        "SELECT 1 FROM runs WHERE job_id = ? AND scheduled_for = ? AND reason = ?"
        " AND attempt = ?", key,
    ).fetchone():
        return False  # fenced: the row is someone else's now
    conn.execute(
        "INSERT INTO runs (job_id, scheduled_for, reason, attempt, owner, state,"
        " finished_at, duration, exit_code, signal, error, output, missed_runs)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, owner, *ended),
    )
    return True


def prune(conn: Connection, job_id: str, keep: int) -> None:
    """Delete the runs of ``job_id`` beyond the newest ``keep``, once
    tallied: counts over all time never go down."""
    row = conn.execute(
        "SELECT run_id FROM runs WHERE job_id = ? ORDER BY run_id DESC LIMIT 1 OFFSET ?",
        (job_id, keep),
    ).fetchone()
    if row is None:
        return
    old = ("state <> 'running' AND run_id <= ?", (row[0],))
    from schedctl.state.totals import fold_runs  # a reader of the history never prunes

    fold_runs(conn, job_id, *old)
    conn.execute(f"DELETE FROM runs WHERE job_id = ? AND {old[0]}", (job_id, *old[1]))
