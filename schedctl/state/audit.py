"""Who asked for a change from outside the scheduler, until the scheduler has logged it.

``schedctl pause``, ``resume`` and ``run-now`` change the store directly; each also adds
an ``audit`` row naming the action, the job and the asker (uid, user, host). The running
scheduler takes the rows (one node of a shared store takes each) and writes one log
line per row, so its log says who paused what. Rows made while no scheduler runs wait
for the next one, which logs them when it starts.
"""

from __future__ import annotations

import os
import pwd
import socket
from dataclasses import dataclass
from datetime import datetime

from schedctl.commands.escape import escape_text
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.timeutil import from_epoch_ms, to_epoch_ms

#: Rows kept while no scheduler takes them; the oldest go first.
KEEP_ROWS = 1000

_COLUMNS = "at, action, job_id, changed, uid, username, host, via"


@dataclass(frozen=True)
class Requester:
    """Who ran the command: uid and user name, the host, and under sudo the user behind it."""

    uid: int | None
    user: str | None
    host: str | None
    via: str | None = None

    @classmethod
    def of_this_process(cls) -> Requester:
        uid = os.getuid()
        try:
            user: str | None = pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid without a passwd entry, as in some containers
            user = None
        via = os.environ.get("SUDO_USER") if uid == 0 else None
        return cls(uid, user, socket.gethostname(), via or None)

    def describe(self, *, with_host: bool) -> str:
        """``uid 1000 (alice)``, ``uid 0 (root, via sudo from alice) on web-2``."""
        names = [name for name in (self.user,) if name]
        if self.via:
            names.append(f"via sudo from {self.via}")
        text = f"uid {self.uid if self.uid is not None else '?'}"
        text += f" ({', '.join(names)})" if names else ""
        return text + (f" on {self.host}" if with_host and self.host else "")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str  # pause | resume | run-now
    job_id: str
    changed: bool  # False: the job was paused (or not paused) already
    requester: Requester


class AuditLog:
    """The ``audit`` table of a store, through the store's own connection."""

    def __init__(self, store: SQLJobStore) -> None:
        self._store = store

    def record(self, entry: AuditEntry) -> None:
        """Add a row; the oldest rows beyond KEEP_ROWS are dropped."""
        who = entry.requester
        with self._store._writing() as conn:  # announced: the scheduler logs it at once
            conn.execute(
                f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (to_epoch_ms(entry.at), entry.action, entry.job_id, int(entry.changed),
                 who.uid, who.user, who.host, who.via),
            )
            conn.execute(
                "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC"
                " LIMIT 1 OFFSET ?)", (KEEP_ROWS,),
            )

    def take(self) -> list[AuditEntry]:
        """Remove and return the rows, oldest first (on a shared store, each to one node)."""
        with self._store._reading() as conn:  # the usual case, nothing new, takes no write lock
            if conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone() is None:
                return []
        with self._store._writing(notify=False) as conn:
            rows = conn.execute(f"DELETE FROM audit RETURNING id, {_COLUMNS}").fetchall()
        return [_entry(tuple(row)[1:]) for row in sorted(rows, key=lambda row: row[0])]


def _entry(row: tuple[object, ...]) -> AuditEntry:
    at, action, job_id, changed, uid, user, host, via = row
    return AuditEntry(
        from_epoch_ms(int(at)),  # type: ignore[call-overload]
        str(action), str(job_id), bool(changed),
        Requester(None if uid is None else int(uid),  # type: ignore[call-overload]
                  _text(user), _text(host), _text(via)),
    )


def _text(value: object) -> str | None:
    """A name read back from the store, fit for one log line: anything that could start a
    new line or move the cursor is shown escaped, and it is cut at 64 characters."""
    if value is None:
        return None
    return escape_text(str(value)[:64], newlines=False) or None
