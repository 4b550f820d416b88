"""Opening the state store a ``state:`` names: an SQLite file, or a PostgreSQL database.

One place decides, so ``schedctl run`` and every other command open the same
store the same way.
"""

from __future__ import annotations

import os
from datetime import datetime

from schedctl.clock import SystemClock
from schedctl.jobfile.loader import is_state_url
from schedctl.jobstores._sqlstore import SQLJobStore


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
    from schedctl.jobstores.postgresql import PostgreSQLJobStore

    return isinstance(store, PostgreSQLJobStore)
