"""A FIFO where a trusted reader expects a file: the open must not wait for a writer.

In a sticky directory another user may create a FIFO under a name that no file holds yet,
between the check of the path and the open. Opening a FIFO for reading waits until
someone opens it for writing, so root's scheduler, at a reload, would wait for ever on
the other user's say. The trusted open does not wait: it refuses the FIFO as the other
user's, and root's own FIFO without a writer reads as empty.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from schedctl.crontab.build import load_any
from schedctl.crontab.files import CrontabReadError
from schedctl.jobfile.loader import JobfileError, load_jobfile
from schedctl.trust import UntrustedFileError, open_trusted
from tests.cli.helpers import wait_until
from tests.security.conftest import make_dir, needs_root

pytestmark = needs_root

#: Seconds a read may take before it counts as hung (it takes milliseconds when it does not).
HUNG = 10.0


def outcome_of(read: Callable[[], object], fifo: Path) -> BaseException | str:
    """What ``read`` raised (or "read"); a read that waits past ``HUNG`` seconds for a
    writer is set free by opening the FIFO for writing, and fails the test."""
    result: list[BaseException | str] = []

    def run() -> None:
        try:
            read()
            result.append("read")
        except BaseException as exc:  # noqa: BLE001 - handed to the test to judge
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HUNG)
    hung = thread.is_alive()
    if hung:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(HUNG)
    assert not hung, f"the read of {fifo} waited for a writer"
    return result[0]


@pytest.fixture
def planted(users, site) -> Path:
    """A FIFO the attacker made in a sticky directory, where root expects its jobfile."""
    spool = make_dir(site / "spool", 0o1777)
    users.attacker.sh("mkfifo -m 600 jobs.yaml", cwd=spool)
    return spool / "jobs.yaml"


@pytest.mark.parametrize("read", [
    lambda path: os.close(open_trusted(path)),
    lambda path: load_jobfile(path, check_trust=True),
    lambda path: load_any(str(path), crontab=True, check_trust=True),
], ids=["open_trusted", "jobfile", "crontab"])
def test_another_users_fifo_is_refused_without_waiting(planted: Path, users, read) -> None:
    error = outcome_of(lambda: read(planted), planted)
    assert isinstance(error, (UntrustedFileError, JobfileError, CrontabReadError)), error
    assert f"owned by {users.attacker.name}" in str(error)


def test_roots_own_fifo_without_a_writer_reads_as_empty(site: Path) -> None:
    fifo = site / "jobs.yaml"
    os.mkfifo(fifo, 0o600)
    error = outcome_of(lambda: load_jobfile(fifo, check_trust=True), fifo)
    assert isinstance(error, JobfileError), error  # an empty jobfile, said at once


def test_a_trusted_read_blocks_again_once_checked(site: Path) -> None:
    """The non-blocking open is for the open only: reads of a pipe wait for its data."""
    fifo = site / "jobs.yaml"
    os.mkfifo(fifo, 0o600)
    writer_open, writer_ready = threading.Event(), threading.Event()

    def write_later() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # waits for the reader's open
        writer_open.set()
        writer_ready.wait(HUNG)
        os.write(fd, b"jobs: {}\n")
        os.close(fd)

    writer = threading.Thread(target=write_later, daemon=True)
    writer.start()
    fd = open_trusted(fifo)  # the writer's open waits for this one, not the other way
    try:
        assert os.get_blocking(fd)
        assert writer_open.wait(HUNG)
        writer_ready.set()  # a blocking read gets the write, before or after it starts
        assert os.read(fd, 100) == b"jobs: {}\n"
    finally:
        os.close(fd)
        writer.join(HUNG)


@pytest.mark.parametrize("read", [
    lambda path: os.close(open_trusted(path)),
    lambda path: load_jobfile(path, check_trust=True),
    lambda path: load_any(path, crontab=True, check_trust=True),
], ids=["open_trusted", "jobfile", "crontab"])
def test_an_object_another_user_leads_to_is_never_opened(site: Path, users, read) -> None:
    """Opening may act before any check (a watchdog arms, a tape rewinds, a FIFO's writer is
    let through): the object a link of another user leads to is refused unopened. A
    writer waiting on the other user's FIFO is the witness: it is let through by the
    first open for reading, and only then."""
    attacker = users.attacker
    drop = make_dir(site / "drop", 0o1777)
    own = make_dir(site / "own", 0o755, owner=attacker.uid)
    attacker.sh(f"mkfifo -m 600 {own}/witness && ln -s {own}/witness {drop}/jobs.yaml")
    opened = threading.Event()
    waiting: list[int] = []

    def wait_for_a_reader() -> None:
        waiting.append(threading.get_native_id())
        fd = os.open(own / "witness", os.O_WRONLY)  # waits for a reader, as the attacker's would
        opened.set()
        os.close(fd)

    writer = threading.Thread(target=wait_for_a_reader, daemon=True)
    writer.start()
    wait_until(lambda: waiting and _waits_in_open(waiting[0]), what="the writer to wait")
    try:
        with pytest.raises((UntrustedFileError, JobfileError, CrontabReadError)):
            read(str(drop / "jobs.yaml"))
        assert not opened.wait(0.5), "root opened the other user's FIFO before refusing it"
    finally:
        if not opened.is_set():
            os.close(os.open(own / "witness", os.O_RDONLY | os.O_NONBLOCK))  # free the writer
        writer.join(5)


def _waits_in_open(tid: int) -> bool:
    """Whether thread ``tid`` of this process sleeps in the kernel waiting for a FIFO's
    other end."""
    return Path(f"/proc/self/task/{tid}/wchan").read_text() in ("wait_for_partner", "pipe_wait")


@pytest.mark.parametrize("command", [["validate"], ["validate", "--crontab"]],
                         ids=["jobfile", "crontab"])
def test_a_file_checked_only_for_a_warning_is_never_a_device(site: Path, users, command) -> None:
    """``validate`` reads what it is named without refusing it, but a link
    another user put in a sticky directory must not make root open a device: opening one
    may act (a watchdog arms, a tape rewinds). It is refused unopened."""
    from tests.cli.conftest import SCHEDCTL, clean_env

    drop = make_dir(site / "drop", 0o1777)
    users.attacker.sh(f"ln -s /dev/zero {drop}/jobs.yaml")
    result = subprocess.run([SCHEDCTL, *command, str(drop / "jobs.yaml")], env=clean_env(site),
                            cwd=site, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    assert "is a device (character device), not a file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
