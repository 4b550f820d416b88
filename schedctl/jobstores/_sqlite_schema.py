"""Opening a schedctl SQLite state file: creating it privately, connection settings,
ordered schema migrations, and turning sqlite3 errors into StoreError.

Kept apart from ``sqlite.py`` so the store reads as the job-store contract only.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import time

from schedctl.errors import StoreError
from schedctl.trust import check_not_link

#: Marks the file as ours in its header (``PRAGMA application_id``): 'schd'.
APPLICATION_ID = 0x73636864

#: Migration N (1-based) brings the schema from user_version N-1 to N. Append a
#: tuple of statements to add one; never edit a released entry.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
            id            TEXT PRIMARY KEY,
            next_run_time INTEGER,          -- UTC epoch milliseconds; NULL = paused
            version       INTEGER NOT NULL, -- bumped by every write: the compare-and-set key
            state         TEXT NOT NULL     -- Job.to_state() as JSON
        )""",
        # (next_run_time, id) serves due-job claims in order and get_next_run_time's MIN.
        """CREATE INDEX jobs_next_run_time ON jobs (next_run_time, id)
            WHERE next_run_time IS NOT NULL""",
        f"PRAGMA application_id = {APPLICATION_ID}",
    ),
    (
        # Runs asked for from outside the scheduler (``schedctl run-now``).
        """CREATE TABLE run_requests (
            id           INTEGER PRIMARY KEY,
            job_id       TEXT NOT NULL,
            requested_at INTEGER NOT NULL   -- UTC epoch milliseconds
        )""",
        # One row per run attempt, and one per missed or skipped run: the history.
        """CREATE TABLE runs (
            run_id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
            job_id        TEXT NOT NULL,
            scheduled_for INTEGER NOT NULL,  -- UTC epoch ms
            attempt       INTEGER NOT NULL DEFAULT 1,
            state         TEXT NOT NULL,     -- running|success|failed|timeout|killed|
                                             -- not_started|error|interrupted|missed|skipped
            reason        TEXT NOT NULL DEFAULT 'schedule',  -- schedule|run-now
            owner         TEXT,              -- host/pid of the scheduler that ran it
            started_at    INTEGER,
            finished_at   INTEGER,
            duration      REAL,              -- seconds
            exit_code     INTEGER,
            signal        INTEGER,
            error         TEXT,
            output        TEXT,              -- the tail of the output
            UNIQUE (job_id, scheduled_for, attempt, reason)
        )""",
        "CREATE INDEX runs_job ON runs (job_id, run_id)",
        "CREATE INDEX runs_running ON runs (state) WHERE state = 'running'",
        # Who runs this state file, for ``schedctl status``.
        """CREATE TABLE scheduler (
            id           INTEGER PRIMARY KEY CHECK (id = 1),
            pid          INTEGER,
            hostname     TEXT,
            started_at   INTEGER,
            heartbeat_at INTEGER,
            stopped_at   INTEGER,
            jobfile      TEXT
        )""",
    ),
    (
        # The boot during which each @reboot job last ran, so a restart does not rerun it.
        """CREATE TABLE boot_runs (
            job_id  TEXT PRIMARY KEY,
            boot_id TEXT NOT NULL
        )""",
    ),
    (
        # The lease a run holds (UTC epoch ms), when the store grants them; the same
        # columns as the PostgreSQL store, so one history serves both.
        "ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER",
        # The job's definition, kept with a run that outlives the job's row.
        "ALTER TABLE runs ADD COLUMN job_state TEXT",
    ),
    (
        # How many scheduled runs a 'missed' row stands for (NULL: not known).
        "ALTER TABLE runs ADD COLUMN missed_runs INTEGER",
        # What pruning took out of ``runs``, tallied, so counts over all time survive it.
        """CREATE TABLE run_totals (
            job_id    TEXT NOT NULL,
            node      TEXT NOT NULL,     -- the owner's name before its '/'
            outcome   TEXT NOT NULL,
            runs      INTEGER NOT NULL,
            missed    INTEGER NOT NULL,  -- scheduled runs the 'missed' rows stood for
            last_at   INTEGER,           -- the newest finished_at, UTC epoch ms
            durations TEXT NOT NULL,     -- histograms as JSON: count, sum, cumulative buckets
            lateness  TEXT NOT NULL,
            PRIMARY KEY (job_id, node, outcome)
        )""",
    ),
    (
        # The process of a running command (the shim's under a lease), for ``schedctl top``;
        # while a run goes on, ``output`` holds the tail printed so far.
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
    ),
    (
        # Changes asked for from outside the scheduler (pause, resume, run-now) and who
        # asked, until the running scheduler has logged them (schedctl.state.audit).
        """CREATE TABLE audit (
            id      INTEGER PRIMARY KEY,
            at      INTEGER NOT NULL,   -- UTC epoch ms
            action  TEXT NOT NULL,      -- pause|resume|run-now
            job_id  TEXT NOT NULL,
            changed INTEGER NOT NULL,   -- 0: the job was in that state already
            uid     INTEGER,
            username TEXT,
            host    TEXT,
            via     TEXT                -- the user sudo was run by, if any
        )""",
    ),
)

BUSY_TIMEOUT_MS = 10_000

_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


def parse_location(url: str | None, path: str | os.PathLike[str] | None) -> str:
    """The absolute file path from exactly one of ``url`` (``sqlite:///rel``,
    ``sqlite:////abs``) and ``path``; ValueError naming the argument otherwise."""
    if (url is None) == (path is None):
        raise ValueError("url, path: give exactly one of them")
    if path is not None:
        location = os.fspath(path)
        if not isinstance(location, str) or not location:
            raise ValueError(f"path: expected a file path, got {path!r}")
    else:
        location = _path_from_url(url)
    if location == ":memory:":
        raise ValueError("path: an in-memory SQLite store is not supported; use MemoryJobStore")
    return os.path.abspath(location)


def _path_from_url(url: object) -> str:
    prefix = "sqlite:///"
    if not isinstance(url, str) or not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(
            f"url: expected 'sqlite:///relative/path' or 'sqlite:////absolute/path', got {url!r}"
        )
    if "?" in url:
        raise ValueError(f"url: query options are not supported in {url!r}")
    return url[len(prefix) :]


def ensure_file(path: str) -> None:
    """Create missing parent directories (0700) and the file itself (0600), so a
    state file holding commands and arguments is private from its first byte; a
    symbolic link where the file should be is an error that names it."""
    parent = os.path.dirname(path)
    missing: list[str] = []
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass  # made meanwhile by another process
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            check_not_link(path)  # SQLite would open whatever a link there points to
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the state file ({exc.strerror or exc})") from None


def connect(path: str) -> sqlite3.Connection:
    """Open, configure and migrate ``path``. StoreError if it is not ours or is unusable.

    ``check_same_thread=False`` because the store guards its one connection with a
    lock and ``shutdown`` may close it from another thread.
    """
    ensure_file(path)
    conn = None
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        conn.execute(_PRAGMAS[0])  # the busy timeout, for the check below
        # The shared SQL reads the store's clock as now_ms(); one host's store uses its own.
        conn.create_function("now_ms", 0, _now_ms)
        # Before journal_mode = WAL, which rewrites the header: another program's file is
        # refused untouched.
        _check_version(conn, path)
        for pragma in _PRAGMAS[1:]:
            conn.execute(pragma)
        migrate(conn, path)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise store_error(path, exc) from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema up to date, under the write lock so concurrent openers
    never run the same migration twice."""
    if _check_version(conn, path) == len(MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _check_version(conn, path)  # another process may have migrated meanwhile
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _check_version(conn: sqlite3.Connection, path: str) -> int:
    """The file's schema version, after making sure the file is a schedctl one we understand."""
    known = len(MIGRATIONS)
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if version > known and app_id == APPLICATION_ID:
        raise StoreError(
            f"{path} was written by a newer schedctl (schema version {version}; "
            f"this one knows up to {known}); upgrade schedctl"
        )
    foreign = app_id not in (0, APPLICATION_ID) or (version > 0 and app_id != APPLICATION_ID)
    if not foreign and version == 0:
        foreign = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if foreign:
        raise StoreError(
            f"{path} is not a schedctl state file (it is an SQLite database of another program)"
        )
    return version


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a failing rollback must not hide the real error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def store_error(path: str, exc: sqlite3.Error) -> StoreError:
    """A StoreError that names the file and says what is wrong in words, not error codes."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    detail = str(exc)
    if name == "SQLITE_NOTADB" or "file is not a database" in detail:
        return StoreError(f"{path} is not a schedctl state file (file is not a database)")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in detail:
        return StoreError(
            f"{path} is damaged ({detail}); move it aside and restore it from a backup"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in detail:
        trouble = disk_trouble(path) or "it is read-only"
        return StoreError(f"{path} cannot be written: {trouble} ({detail})")
    if name == "SQLITE_FULL" or "disk is full" in detail:
        return StoreError(f"{path} cannot be written: the disk is full ({detail})")
    if name.startswith("SQLITE_CANTOPEN"):
        why = disk_trouble(path)
        return StoreError(f"{path} cannot be opened" + (f": {why}" if why else "") + f" ({detail})")
    if name.startswith("SQLITE_IOERR"):
        why = disk_trouble(path)
        if why:
            return StoreError(f"{path} cannot be written: {why} ({detail})")
    if name == "SQLITE_BUSY":
        return StoreError(
            f"{path} stayed locked by another process for over "
            f"{BUSY_TIMEOUT_MS // 1000} s ({detail})"
        )
    if name.startswith("SQLITE_BUSY") or "locked" in detail:
        return StoreError(f"{path} is busy: another process holds a lock ({name or detail})")
    return StoreError(f"{path}: {detail}")


def disk_trouble(path: str) -> str | None:
    """What about the file system keeps ``path`` from being written, if anything can be told:
    SQLite says only "unable to open" or "disk I/O error" for a read-only mount, a full disk
    or a file size limit."""
    directory = os.path.dirname(path) or "."
    try:
        fs = os.statvfs(directory)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "its file system is read-only"
    if not os.access(path, os.W_OK) and os.path.exists(path):
        return "this user may not write it"
    if not os.access(directory, os.W_OK):  # SQLite makes its -wal and -shm files beside it
        return f"this user may not create files in {directory}"
    if fs.f_bavail == 0:
        return "the disk is full"
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return f"this process may not write files over {soft:,} bytes (ulimit -f)"
    return None
