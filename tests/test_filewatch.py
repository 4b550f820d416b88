"""The jobfile watch: real files, real ``stat``; the poll times are handed in, never waited for."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest

from schedctl.service.filewatch import POLL_SECONDS, FileSignature, FileWatch
from schedctl.service.reload import RELOAD_GAP_SECONDS, ReloadRequests


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs: {}\n")
    return path


def watching(path: Path) -> FileWatch:
    return FileWatch(str(path), FileSignature.of(str(path)), now=0.0)


def polls(watch: FileWatch, count: int, start: float = 1.0) -> list[str | None]:
    """``check`` at ``count`` successive poll times."""
    return [watch.check(start + n * POLL_SECONDS) for n in range(count)]


def test_an_unchanged_file_never_asks_for_a_reload(jobs: Path) -> None:
    assert polls(watching(jobs), 4) == [None] * 4


def test_an_edit_counts_once_it_has_held_for_one_poll(jobs: Path) -> None:
    watch = watching(jobs)
    jobs.write_text("jobs: {a: {command: x, interval: 5m}}\n")
    assert polls(watch, 2) == [None, f"a change to {jobs} (modified, 9 -> 38 bytes)"]


def test_a_file_still_being_written_waits_until_it_settles(jobs: Path) -> None:
    watch = watching(jobs)
    seen = []
    for n in range(3):
        with jobs.open("a") as stream:
            stream.write(f"# line {n}\n")
        seen.append(watch.check(1.0 + n * POLL_SECONDS))
    assert seen == [None, None, None]
    assert watch.check(1.0 + 3 * POLL_SECONDS) is not None


def test_a_file_renamed_over_the_old_one_is_a_new_file(jobs: Path, tmp_path: Path) -> None:
    watch = watching(jobs)
    fresh = tmp_path / "jobs.yaml.new"
    fresh.write_text("jobs: {}\n")  # same size, same text: only the inode tells
    os.replace(fresh, jobs)
    assert polls(watch, 2)[-1] == f"a change to {jobs} (replaced by a new file)"


def test_a_touch_is_a_change(jobs: Path) -> None:
    watch = watching(jobs)
    info = jobs.stat()
    os.utime(jobs, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    assert polls(watch, 2)[-1] == f"a change to {jobs} (modified)"


def test_nothing_is_looked_at_before_the_next_poll(jobs: Path) -> None:
    watch = watching(jobs)
    jobs.write_text("changed: true\n")
    assert [watch.check(t) for t in (0.1, 0.2, 0.3, 0.4)] == [None] * 4
    assert polls(watch, 2)[-1] is not None


def test_what_a_reload_read_is_not_reloaded_again(jobs: Path) -> None:
    watch = watching(jobs)
    jobs.write_text("jobs: {b: {command: y, interval: 1m}}\n")
    watch.check(1.0)  # seen once, pending
    watch.loaded(FileSignature.of(str(jobs)))  # a SIGHUP's reload read it meanwhile
    assert polls(watch, 3, start=2.0) == [None] * 3


def test_a_file_that_disappears_is_reported_once_and_reloaded_when_it_returns(
        jobs: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = watching(jobs)
    jobs.unlink()
    with caplog.at_level(logging.WARNING, "schedctl.run"):
        assert polls(watch, 3) == [None] * 3
    assert [r.getMessage() for r in caplog.records] == [
        f"{jobs} is gone; still running the previous jobs (it is read again when it comes back)"]
    jobs.write_text("jobs: {c: {command: z, interval: 1h}}\n")
    reason = polls(watch, 2, start=3.0)[-1]  # the file system may give it the old inode again
    assert reason is not None and reason.startswith(f"a change to {jobs} (")


def test_a_file_missing_at_the_start_is_loaded_when_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later.yaml"
    watch = FileWatch(str(path), None, now=0.0)
    assert polls(watch, 2) == [None, None]
    path.write_text("jobs: {}\n")
    assert polls(watch, 2, start=2.0)[-1] == f"a change to {path} (created again)"


# -- reload requests: who asked, and no more than one reload a gap ---------------------------


def test_a_burst_of_requests_makes_one_reload_after_the_gap() -> None:
    asked = ReloadRequests()
    assert (asked.due_at, asked.take(0.0)) == (math.inf, None)
    asked.hangups += 1
    assert asked.take(0.0) == "SIGHUP"  # the first one at once
    asked.done(0.1)
    asked.hangups += 199
    asked.changes.append("a change to jobs.yaml (modified)")
    assert asked.due_at == 0.1 + RELOAD_GAP_SECONDS
    assert asked.take(0.5) is None
    assert asked.take(0.1 + RELOAD_GAP_SECONDS) == (
        "SIGHUP (x199, coalesced) and a change to jobs.yaml (modified)")
    assert (asked.due_at, asked.take(5.0)) == (math.inf, None)
