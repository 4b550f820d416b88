"""The PostgreSQL store's schema, its migrations, and its connection settings.

The tables live in their own schema, ``schedctl``, so a database other programs
use stays tidy, and have the same shapes as the SQLite file's (times as UTC epoch
milliseconds) so one history and one CLI serve both stores. Every node migrates
at start-up inside ``pg_advisory_xact_lock``: nodes starting together take turns
instead of racing on ``CREATE TABLE``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from schedctl.errors import StoreError

SCHEMA = "schedctl"

#: Taken around migrations, so concurrent first starts serialise their DDL.
MIGRATE_LOCK = "hashtext('schedctl:migrate')"

#: Migration N (1-based) brings the schema from version N-1 to N; append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # The database's clock in the stores' unit; every lease and due-ness check uses it,
        # so the nodes' own clocks decide nothing.
        """CREATE FUNCTION now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
            $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$""",
        """CREATE TABLE jobs (
            id            text PRIMARY KEY,
            next_run_time bigint,            -- UTC epoch ms; NULL = paused
            version       bigint NOT NULL,   -- bumped by every write: the compare-and-set key
            state         text NOT NULL      -- Job.to_state() as JSON
        )""",
        "CREATE INDEX jobs_next_run_time ON jobs (next_run_time, id) WHERE next_run_time IS NOT NULL",
        """CREATE TABLE run_requests (
            id           bigserial PRIMARY KEY,
            job_id       text NOT NULL,
            requested_at bigint NOT NULL
        )""",
        """CREATE TABLE runs (
            run_id           bigserial PRIMARY KEY,  -- never reused: the fencing token
            job_id           text NOT NULL,
            scheduled_for    bigint NOT NULL,
            attempt          integer NOT NULL DEFAULT 1,
            state            text NOT NULL,
            reason           text NOT NULL DEFAULT 'schedule',
            owner            text,                   -- node/incarnation
            started_at       bigint,
            finished_at      bigint,
            duration         double precision,
            exit_code        integer,
            signal           integer,
            error            text,
            output           text,
            lease_expires_at bigint,                 -- by the database's clock
            job_state        text,                   -- the job, when this run outlives its row
            UNIQUE (job_id, scheduled_for, attempt, reason)
        )""",
        "CREATE INDEX runs_job ON runs (job_id, run_id)",
        "CREATE INDEX runs_lease ON runs (lease_expires_at) WHERE state = 'running'",
        # For the claim's "is this job still running on another node?".
        "CREATE INDEX runs_running_job ON runs (job_id) WHERE state = 'running'",
        # The nodes running this store: who is alive, which jobfile each one has.
        """CREATE TABLE nodes (
            node_id       text PRIMARY KEY,
            incarnation   text NOT NULL,
            hostname      text,
            pid           integer,
            started_at    bigint,
            heartbeat_at  bigint,
            stopped_at    bigint,
            lease_seconds double precision,
            jobfile       text,
            jobfile_hash  text
        )""",
        """CREATE TABLE boot_runs (
            job_id  text PRIMARY KEY,
            boot_id text NOT NULL
        )""",
        # Small facts shared by the nodes, such as which jobfile the jobs came from.
        """CREATE TABLE settings (
            key   text PRIMARY KEY,
            value text NOT NULL
        )""",
    ),
    (
        "ALTER TABLE runs ADD COLUMN missed_runs integer",
        """CREATE TABLE run_totals (
            job_id    text NOT NULL,
            node      text NOT NULL,
            outcome   text NOT NULL,
            runs      bigint NOT NULL,
            missed    bigint NOT NULL,
            last_at   bigint,
            durations text NOT NULL,
            lateness  text NOT NULL,
            PRIMARY KEY (job_id, node, outcome)
        )""",
    ),
    (
        # A running command's process, and (in ``output``) its output so far: schedctl top.
        "ALTER TABLE runs ADD COLUMN pid integer",
    ),
    (
        """CREATE TABLE audit (
            id      bigserial PRIMARY KEY,
            at      bigint NOT NULL,
            action  text NOT NULL,
            job_id  text NOT NULL,
            changed integer NOT NULL,
            uid     integer,
            username text,
            host    text,
            via     text
        )""",
    ),
)


def migrate(conn: Any, location: str) -> None:
    """Bring the schema up to date; safe when many nodes start at once."""
    with conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version integer NOT NULL)")
        row = conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version").fetchone()
        current = int(row[0] or 0)
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{location} was written by a newer schedctl (schema version {current}; this one "
                f"knows up to {len(MIGRATIONS)}); upgrade schedctl on every node"
            )
        if current == len(MIGRATIONS):
            return
        conn.execute(f"SET LOCAL search_path = {SCHEMA}")
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"DELETE FROM {SCHEMA}.schema_version")
        conn.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES ({len(MIGRATIONS)})")


def is_postgres_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (in the address or as ``?password=``), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc and ":" in netloc.rsplit("@", 1)[0]:  # user:password@host
        credentials, host = netloc.rsplit("@", 1)
        netloc = f"{credentials.split(':', 1)[0]}:***@{host}"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def connect_kwargs(application: str) -> dict[str, Any]:
    """Settings for every connection: fail fast, notice dead peers, find our tables."""
    return {
        "autocommit": True,
        "connect_timeout": 5,
        "application_name": application,
        "options": f"-c search_path={SCHEMA}",
        # A node cut off from the database learns it from TCP within about 20 s; its
        # commands are safe regardless (the shims end them before their leases do).
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
