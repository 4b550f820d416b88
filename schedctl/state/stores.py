"""Opening the state store a ``state:`` names: an SQLite file, or a PostgreSQL database.

One place decides, so ``schedctl run`` and every other command open the same
store the same way.
"""

from __future__ import annotations

import os
from datetime import datetime

from schedctl.clock import SystemClock
from schedctl.jobfile.statelocation import is_state_url
from schedctl.jobstores._sqlstore import SQLJobStore
from schedctl.trust import check_not_link, check_trusted

#: What SQLite and ``schedctl run`` keep beside a state file: each decides what runs as much
#: as the file itself does (a rolled-back journal or a WAL is part of the database).
STATE_COMPANIONS = ("-wal", "-shm", "-journal", ".lock")


def open_store(location: str | os.PathLike[str], **sqlite_options: object) -> SQLJobStore:
    """The store at ``location``; ``sqlite_options`` apply to a file only."""
    if is_state_url(location):
        from schedctl.jobstores.postgresql import PostgreSQLJobStore

        return PostgreSQLJobStore(str(location))
    from schedctl.jobstores.sqlite import SQLiteJobStore

    return SQLiteJobStore(path=location, **sqlite_options)  # type: ignore[arg-type]


def store_now(store: SQLJobStore) -> datetime:
    """The time changes are made by: the shared database's clock (every node agrees on
    it; a resumed job's next run is computed from it), else this host's."""
    from schedctl.jobstores.postgresql import PostgreSQLJobStore

    if isinstance(store, PostgreSQLJobStore):
        return store.db_now()
    return SystemClock().now()


def is_shared(store: SQLJobStore) -> bool:
    """Whether several nodes may run this store (so runs hold leases, nodes register)."""
    return store.shared  # asked of the store: importing the PostgreSQL one costs 4 ms


def check_state_trusted(path: str | os.PathLike[str]) -> None:
    """Refuse a state file that another user could change: the file, its companions and
    the directories holding them must pass :func:`schedctl.trust.check_trusted`, and none of
    them may be a symbolic link. ``schedctl run`` and ``run-now`` call this before a job
    runs from the file; on PostgreSQL the database is trusted as its credentials are."""
    name = os.fspath(path)
    for each in (name, *(name + suffix for suffix in STATE_COMPANIONS)):
        check_not_link(each)
        check_trusted(each)
