"""A throwaway PostgreSQL server for the test suite.

Why a real server: the PostgreSQL job store depends on behaviour that no fake
reproduces faithfully (row locks, transaction isolation, what the driver does
when the server stops answering). So the tests run against the real thing, but
one that is private to the test session: its own data directory under a
temporary directory, its own loopback port and socket directory, durability
switched off for speed, and everything deleted again by ``stop()``.

Usage::

    with PostgresServer() as server:
        url = server.create_database("t1")   # postgresql://postgres@127.0.0.1:PORT/t1
        ...
        server.drop_database("t1")

``pause()`` and ``resume()`` freeze and thaw every process of the server
(SIGSTOP/SIGCONT), so fault tests can simulate a server that hangs without
closing its connections, which is what a network partition or a stalled host
looks like to a client.

Only the PostgreSQL server binaries are needed (``initdb``, ``pg_ctl``,
``postgres``); on Debian or Ubuntu they come with ``apt-get install
postgresql``, which is what ``.ci/run`` does.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["PostgresNotFoundError", "PostgresServer", "find_bindir"]

#: The executables the server needs; all three must come from the same directory,
#: because ``pg_ctl`` runs the ``postgres`` that sits next to it.
BINARIES = ("initdb", "pg_ctl", "postgres")

#: The superuser ``initdb`` creates; authentication is ``trust`` so no password is needed.
SUPERUSER = "postgres"

#: Server settings for a disposable cluster: durability is pointless for data that is
#: deleted at the end of the run, and turning it off makes CREATE DATABASE and commits
#: much faster. max_connections is raised because concurrency tests open many.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresNotFoundError(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: numeric, so 15 beats 9.6."""
    version = Path(bindir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (-1,)


def _candidate_dirs() -> list[str]:
    """Where to look for the binaries, in order of preference.

    PATH first (the user's explicit choice), then Debian's versioned layout
    ``/usr/lib/postgresql/*/bin`` (not on PATH there: Debian only puts wrappers
    like ``pg_ctlcluster`` in /usr/bin), newest version first, then /usr/local/bin.
    """
    dirs: list[str] = []
    found = shutil.which("initdb")
    if found:
        dirs.append(os.path.dirname(found))
    dirs.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True))
    dirs.append("/usr/local/bin")
    return dirs


def find_bindir() -> str:
    """The first directory that holds all of ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises PostgresNotFoundError, with the install command, if there is none.
    """
    for bindir in _candidate_dirs():
        if all(os.access(os.path.join(bindir, name), os.X_OK) for name in BINARIES):
            return bindir
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in "
        "/usr/lib/postgresql/*/bin or in /usr/local/bin. Install PostgreSQL, e.g. "
        "`apt-get install postgresql` on Debian/Ubuntu (.ci/run does this)."
    )


def _free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it for port 0).

    There is a window between closing this socket and the server binding the port;
    ``PostgresServer.start`` retries with another port if someone took it meanwhile.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ppid(pid: int) -> int | None:
    """The parent pid of ``pid`` from /proc, or None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and ')', so split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1])


def _postmaster_pid(datadir: str) -> int | None:
    """The postmaster's pid: the first line of ``postmaster.pid``; None if not running."""
    try:
        first = Path(datadir, "postmaster.pid").read_text().split("\n", 1)[0]
    except OSError:
        return None
    if not first.strip().isdigit() or _ppid(int(first)) is None:
        return None
    return int(first)


def _server_pids(datadir: str) -> list[int]:
    """The postmaster of ``datadir`` and all its descendants, postmaster first.

    Descendants are found through the parent pid in ``/proc/<pid>/stat``. Not through
    the process group: every server process calls setsid(), so each leads its own.
    """
    root = _postmaster_pid(datadir)
    if root is None:
        return []
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _ppid(int(entry))
            if ppid is not None:
                parents[int(entry)] = ppid
    found = [root]
    frontier = {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier} - set(found)
        found.extend(sorted(children))
        frontier = children
    return found


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass  # exited in the meantime


def _stop_cluster(pg_ctl: str, datadir: str, tmpdir: str, run_as: dict[str, Any]) -> None:
    """Immediate shutdown and removal of the temporary directory.

    A plain function (not a method) so ``weakref.finalize`` can call it at interpreter
    exit without keeping the server object alive: an interrupted test run must not
    leave a postmaster behind.
    """
    pids = _server_pids(datadir)
    if pids:
        # A server left paused would never act on the shutdown signal.
        _signal_all(pids, signal.SIGCONT)
        subprocess.run(
            [pg_ctl, "-D", datadir, "-m", "immediate", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=60,
            **run_as,
        )
    shutil.rmtree(tmpdir, ignore_errors=True)


class PostgresServer:
    """A private PostgreSQL cluster on a free loopback port, deleted by ``stop()``.

    PostgreSQL refuses to run as root. When the tests run as root (containers, CI),
    the temporary directory is handed to the ``postgres`` system user and ``initdb``
    and ``pg_ctl`` are started as that user through subprocess's ``user=``/``group=``
    (no su or sudo, which may not be installed or may ask for a password). Otherwise
    everything runs as the current user.
    """

    def __init__(self, bindir: str | None = None, *, system_user: str = "postgres") -> None:
        self.bindir = bindir or find_bindir()
        self.system_user = system_user
        self.port: int | None = None
        self.tmpdir: str | None = None
        self._finalizer: weakref.finalize | None = None
        self._paused = False

    # -- paths and connection strings -----------------------------------------------------

    def _require_tmpdir(self) -> str:
        if self.tmpdir is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return self.tmpdir

    @property
    def datadir(self) -> str:
        return os.path.join(self._require_tmpdir(), "data")

    @property
    def sockdir(self) -> str:
        return os.path.join(self._require_tmpdir(), "sock")

    @property
    def logfile(self) -> str:
        return os.path.join(self._require_tmpdir(), "server.log")

    def url_for(self, dbname: str) -> str:
        """The URL of database ``dbname`` on this server (TCP on loopback, trust auth)."""
        if self.port is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """The URL of the maintenance database ``postgres``."""
        return self.url_for("postgres")

    # -- running the binaries ---------------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        """subprocess keyword arguments that drop root privileges, or nothing if not root."""
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(self.system_user)
        # extra_groups=[] clears root's supplementary groups, like a real login would.
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [os.path.join(self.bindir, args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            # A fixed locale: initdb fails on a LANG whose locale is not installed.
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            **self._run_as(),
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.logfile).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> Self:
        """Create the cluster and start the server; returns self. Takes about a second."""
        if self.tmpdir is not None:
            raise RuntimeError("the PostgreSQL server is already started")
        self.tmpdir = tempfile.mkdtemp(prefix="schedctl-pg-")
        run_as = self._run_as()
        self._finalizer = weakref.finalize(
            self,
            _stop_cluster,
            os.path.join(self.bindir, "pg_ctl"),
            self.datadir,
            self.tmpdir,
            run_as,
        )
        try:
            os.mkdir(self.sockdir, 0o700)
            if run_as:
                for path in (self.tmpdir, self.sockdir):
                    os.chown(path, run_as["user"], run_as["group"])
            self._initdb()
            self._start_postmaster(attempts)
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            self.datadir,
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )

    def _start_postmaster(self, attempts: int) -> None:
        """``pg_ctl -w start`` on a free port, retrying if the port was taken in the meantime."""
        for attempt in range(attempts):
            self.port = _free_port()
            options: list[str] = ["-p", str(self.port), "-k", self.sockdir]
            for name, value in SERVER_SETTINGS.items():
                options += ["-c", f"{name}={value}"]
            # pg_ctl hands -o to a shell, hence the quoting.
            result = self._run(
                "pg_ctl",
                "-w",
                "-t",
                "60",
                "-D",
                self.datadir,
                "-l",
                self.logfile,
                "start",
                "-o",
                shlex.join(options),
            )
            if result.returncode == 0:
                return
            log = self._log_tail()
            if "could not bind" in log and attempt + 1 < attempts:
                continue
            raise RuntimeError(
                f"pg_ctl start failed ({result.returncode}):\n{result.stderr}{result.stdout}\n"
                f"server log:\n{log}"
            )

    def stop(self) -> None:
        """Immediate shutdown (no checkpoint: the data is thrown away) and cleanup.

        A paused server is resumed first, since a stopped process would not act on
        the shutdown signal. Safe to call twice.
        """
        if self.tmpdir is None:
            return
        if self._paused:
            self.resume()
        if self._finalizer is not None:
            self._finalizer()  # runs _stop_cluster once, and unregisters it from exit
        self._finalizer = None
        self.tmpdir = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------

    def _admin_execute(self, statement: Any) -> None:
        # Imported here so that importing this module does not require psycopg.
        import psycopg

        # autocommit: CREATE/DROP DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (quoted as an identifier, so any name works); returns its URL."""
        from psycopg import sql

        self._admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting whoever is still connected (WITH (FORCE))."""
        from psycopg import sql

        self._admin_execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    # -- processes, for fault tests -----------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        """The postmaster's pid from ``postmaster.pid``, or None if the server is not running."""
        return _postmaster_pid(self.datadir) if self.tmpdir is not None else None

    def processes(self) -> list[int]:
        """Pids of the postmaster and all its descendants (backends, walwriter, ...).

        The list starts with the postmaster; it is empty when the server is not running.
        """
        return _server_pids(self.datadir) if self.tmpdir is not None else []

    def pause(self) -> list[int]:
        """Freeze the whole server with SIGSTOP; returns the pids stopped.

        The server keeps its sockets open, so clients connect (the kernel completes
        the TCP handshake) or sit in a query but never get an answer: a hung server,
        not a dead one. The postmaster is stopped first so it cannot fork new
        backends, then the listing is repeated until no unstopped process is left.
        """
        stopped: list[int] = []
        while True:
            fresh = [pid for pid in self.processes() if pid not in stopped]
            if not fresh:
                break
            _signal_all(fresh, signal.SIGSTOP)
            stopped.extend(fresh)
        self._paused = True
        return stopped

    def resume(self) -> list[int]:
        """Undo ``pause()`` with SIGCONT to every server process; returns the pids."""
        pids = self.processes()
        _signal_all(pids, signal.SIGCONT)
        self._paused = False
        return pids
