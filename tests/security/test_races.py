"""Between a check and a read: a file another user swaps in after the check is never read.

In a sticky directory such as /tmp, a missing file passes the rule (its reader says it
is missing); checking the path and then opening it left a gap in which the other user
could create the file, and a check of a path that leads elsewhere than its text says
(/proc/PID/fd/N) saw nothing to refuse. Readers now open first and check the file they
opened. The race is run for real: another user creates and removes the file in a loop
while root reads it as the scheduler does, thousands of times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schedctl.commands.spec import EnvFileError, parse_env_file
from schedctl.jobfile.loader import JobfileError
from schedctl.service.startup import open_jobfile
from schedctl.trust import UntrustedFileError, open_trusted
from tests.cli.helpers import wait_until
from tests.security.conftest import User, make_dir, needs_root

pytestmark = needs_root

#: Reads made while the other user flips the file: before the fix, about one in eight
#: read the attacker's file.
READS = 3000

FLIPPER = textwrap.dedent("""
    import os, sys
    source, target = sys.argv[1], sys.argv[2]
    while True:
        try:
            os.link(source, target)
        except FileExistsError:
            pass
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass
""")


def as_user(user: User, argv: list[str], **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, user=user.uid, group=user.gid, extra_groups=[],
                            env={"PATH": "/usr/bin:/bin"}, cwd="/", **kwargs)


@pytest.fixture
def flipping(users, site) -> Iterator[Callable[[str], Path]]:
    """``flipping(text)``: a path in a sticky directory that the attacker, in a loop,
    makes a hard link to a file of theirs holding ``text`` and removes again."""
    started: list[subprocess.Popen[bytes]] = []

    def start(text: str) -> Path:
        spool = make_dir(site / "spool", 0o1777)
        users.attacker.sh(f"cat > mine <<'EOF'\n{text}EOF", cwd=spool)
        target = spool / "target"
        started.append(as_user(users.attacker, ["python3", "-c", FLIPPER, str(spool / "mine"),
                                                str(target)]))
        wait_until(lambda: _exists_now(target), 10, what="the attacker to start flipping")
        return target

    yield start
    for process in started:
        process.kill()
        process.wait()


def _exists_now(path: Path) -> bool:
    return any(path.exists() for _ in range(10000))


def read_while_flipped(read: Callable[[], object], path: Path) -> Counter[str]:
    """What ``READS`` reads gave: "read" (the attacker's file got through), or the error
    with the path taken out (so that all refusals of one kind count as one)."""
    seen: Counter[str] = Counter()
    for _ in range(READS):
        try:
            read()
            seen["read"] += 1
        except (EnvFileError, JobfileError, UntrustedFileError) as exc:
            text = str(exc)
            assert str(path) in text, text  # every refusal names the file
            seen[text.replace(str(path), "PATH").split(": not trusted: ")[0]] += 1
    return seen


def test_an_env_file_another_user_creates_after_the_check_is_never_read(flipping):
    env_file = flipping("PATH=/home/attacker/bin:/usr/bin:/bin\n")

    seen = read_while_flipped(lambda: parse_env_file(str(env_file)), env_file)

    assert seen["read"] == 0, seen
    assert seen["env_file PATH"] > 0 and seen["env_file not found: 'PATH'"] > 0, seen


def test_a_jobfile_another_user_creates_after_the_check_is_never_loaded(flipping, site):
    marker = site / "pwned"
    jobfile = flipping(f"jobs:\n  evil: {{command: touch {marker}, interval: 1s}}\n")

    seen = read_while_flipped(lambda: open_jobfile(str(jobfile)), jobfile)

    assert seen["read"] == 0, seen
    assert sum(seen.values()) == READS and not marker.exists()


def test_an_object_without_a_name_to_check_must_itself_be_trusted(users, site):
    """A pipe (/dev/stdin, <(...)) or a removed file has no path the check can walk: the
    object opened is judged instead. Root's own pipe reads; a removed file of another
    user's, reached through /proc/self/fd, does not."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"GREETING=hello\n")
    os.close(write_end)
    try:
        os.close(open_trusted(f"/proc/self/fd/{read_end}"))
    finally:
        os.close(read_end)

    theirs = make_dir(site / "spool", 0o1777) / "theirs.env"
    users.attacker.sh(f"echo PATH=/home/attacker/bin > {theirs}")
    fd = os.open(theirs, os.O_RDONLY)
    theirs.unlink()
    try:
        with pytest.raises(EnvFileError, match=f"it leads to an object owned by "
                                               f"{users.attacker.name}"):
            parse_env_file(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


SWAPPER = textwrap.dedent("""
    import os, sys
    path, target = sys.argv[1], sys.argv[2]
    moved = os.path.join(os.path.dirname(path), "moved")
    while True:
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            continue
        try:
            os.symlink(target, path)
        except FileExistsError:
            pass
""")


def test_a_metrics_socket_swapped_for_a_link_never_lends_its_mode(users, site):
    """--metrics on a unix socket in a directory that another user may write (a group's,
    for a scraping proxy): between the bind and the chmod to 0660, that user swapped the
    new socket for a link, and root's chmod went to the link's target."""
    from schedctl.jobfile.addresses import parse_listen_address
    from schedctl.metrics.server import MetricsListenError, MetricsServer

    shared = make_dir(site / "metrics", 0o777)
    precious = make_dir(site / "etc", 0o755) / "precious"
    precious.write_text("keep me private\n")
    precious.chmod(0o600)
    address = parse_listen_address(str(shared / "metrics.sock"))
    swapper = as_user(users.attacker, ["python3", "-c", SWAPPER, address.path, str(precious)])
    refused = 0
    try:
        for _ in range(READS // 2):
            for name in ("metrics.sock", "moved"):
                (shared / name).unlink(missing_ok=True)
            server = MetricsServer(address)
            try:
                server.bind()
            except MetricsListenError as exc:
                refused += "the socket was replaced" in str(exc)
            finally:
                server.close()
            assert oct(precious.stat().st_mode & 0o777) == oct(0o600)
    finally:
        swapper.kill()
        swapper.wait()
    assert refused > 0  # the other user did get in between, and was caught


MKDIR_FLIPPER = textwrap.dedent("""
    import os, sys
    while True:
        try:
            os.mkdir(sys.argv[1], 0o777)
        except FileExistsError:
            pass
        try:
            os.rmdir(sys.argv[1])
        except OSError:
            pass
""")


def test_a_state_directory_another_user_makes_after_the_check_is_refused(users, site):
    """A state file in a directory still to be made, in a sticky one: another user who
    made that directory between the check and schedctl's mkdir held the state file and
    its lock file in it, free to swap them."""
    from schedctl.errors import SchedctlError
    from schedctl.service.startup import ServeOptions, opened_store

    spool = make_dir(site / "spool", 0o1777)
    directory = spool / "schedctl"
    jobfile = make_dir(site / "etc", 0o755) / "jobs.yaml"
    jobfile.write_text("jobs:\n  tick: {command: echo tick, interval: 1h}\n")
    flipper = as_user(users.attacker, ["python3", "-c", MKDIR_FLIPPER, str(directory)])
    outcomes: Counter[str] = Counter()
    try:
        for _ in range(READS // 10):
            try:
                with opened_store(ServeOptions(str(jobfile), state=f"{directory}/state.db")):
                    outcomes[f"held in a directory of uid {directory.stat().st_uid}"] += 1
            except SchedctlError as exc:
                outcomes[type(exc).__name__] += 1
            shutil.rmtree(directory, ignore_errors=True)  # the next try makes it anew
    finally:
        flipper.kill()
        flipper.wait()
    assert f"held in a directory of uid {users.attacker.uid}" not in outcomes, outcomes
    assert outcomes["held in a directory of uid 0"] > 0, outcomes
