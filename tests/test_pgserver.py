"""The throwaway PostgreSQL server of tests/pgserver.py and its fixtures work.

These guard the harness itself, so that a PostgreSQL store test failing means the
store is wrong, not the server it runs against.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.pgserver import PostgresServer


def test_pg_url_answers_a_query(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_each_pg_url_is_a_separate_database(postgres_server: PostgresServer, pg_url: str) -> None:
    other_name = "t_other_database"
    other_url = postgres_server.create_database(other_name)
    try:
        assert other_url != pg_url
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("create table marker (x int)")
        with psycopg.connect(other_url) as conn:
            assert conn.execute("select to_regclass('marker')").fetchone() == (None,)
            assert conn.execute("select current_database()").fetchone() == (other_name,)
    finally:
        postgres_server.drop_database(other_name)


def test_pause_freezes_the_server_and_resume_thaws_it(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    # A connection made before the pause: its next query must hang, not fail.
    held = psycopg.connect(pg_url, autocommit=True)
    results: list[object] = []
    query = threading.Thread(target=lambda: results.append(held.execute("select 2").fetchone()))
    try:
        pids = postgres_server.pause()
        try:
            assert pids and pids[0] == postgres_server.postmaster_pid()
            query.start()
            # New connections time out: libpq and psycopg treat less than 2 s as 2 s.
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(pg_url, connect_timeout=2)
            assert time.monotonic() - started >= 1.5
            assert query.is_alive() and results == []
        finally:
            postgres_server.resume()
        query.join(5)
        assert results == [(2,)]
        with psycopg.connect(pg_url, connect_timeout=2) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        held.close()
