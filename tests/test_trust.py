"""The trust rule of schedctl.trust: owners, modes, directories, sticky directories, links,
--insecure, and files schedctl keeps for itself (never through a link)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from schedctl.trust import (
    OwnFileError,
    UntrustedFileError,
    check_own_file,
    check_trusted,
    open_own_file,
    set_insecure,
    trust_problem,
)

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="files of other owners need root")
NOBODY = 65534


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A 0755 directory holding a 0644 ``jobs.yaml``: trusted as it is."""
    base = tmp_path / "etc"
    base.mkdir()
    base.chmod(0o755)
    (base / "jobs.yaml").write_text("jobs: {}\n")
    (base / "jobs.yaml").chmod(0o644)
    return base


@pytest.fixture(autouse=True)
def secure_again():
    yield
    set_insecure(False)


def test_a_correctly_owned_file_is_trusted(tree: Path) -> None:
    check_trusted(tree / "jobs.yaml")
    assert trust_problem(tree / "jobs.yaml") is None


@pytest.mark.parametrize(("mode", "words"), [
    (0o664, "group or others may write it (mode -rw-rw-r--"),
    (0o646, "group or others may write it (mode -rw-r--rw-"),
], ids=["group-writable", "world-writable"])
def test_a_file_others_may_write_is_refused_with_its_mode_and_the_fix(tree, mode, words) -> None:
    jobfile = tree / "jobs.yaml"
    jobfile.chmod(mode)
    with pytest.raises(UntrustedFileError) as refused:
        check_trusted(jobfile)
    message = str(refused.value)
    assert message.startswith(f"{jobfile}: not trusted: ")
    assert words in message and f"fix: chmod go-w {jobfile}" in message and "--insecure" in message


@pytest.mark.parametrize(("mode", "trusted"), [
    (0o755, True), (0o775, False), (0o777, False), (0o1777, True), (0o1775, True),
], ids=["0755", "group-writable", "world-writable", "sticky-like-tmp", "sticky-group"])
def test_the_directory_must_be_closed_to_others_or_sticky(tree, mode, trusted) -> None:
    tree.chmod(mode)
    problem = trust_problem(tree / "jobs.yaml")
    assert (problem is None) == trusted, problem
    if not trusted:
        assert f"its directory {tree}" in problem and f"fix: chmod go-w {tree}" in problem


def test_a_missing_file_passes_when_its_directories_do(tree: Path) -> None:
    check_trusted(tree / "absent.env")
    tree.chmod(0o777)
    assert "its directory" in trust_problem(tree / "absent.env")


def test_a_parent_directory_far_up_counts_too(tree: Path) -> None:
    deep = tree / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    tree.chmod(0o777)
    assert f"its directory {tree} " in trust_problem(deep / "f")


def test_relative_paths_are_checked_from_the_working_directory(tree, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    check_trusted("jobs.yaml")
    tree.chmod(0o777)
    assert trust_problem("jobs.yaml") is not None
    assert trust_problem("./sub/../jobs.yaml") is not None


@root_only
@pytest.mark.parametrize("what", ["file", "directory"])
def test_another_owner_is_refused_with_the_owner_named(tree: Path, what: str) -> None:
    target = tree / "jobs.yaml" if what == "file" else tree
    os.chown(target, NOBODY, -1)
    problem = trust_problem(tree / "jobs.yaml")
    assert problem is not None and "owned by nobody" in problem and "not by root" in problem
    assert f"fix: chown root {target}" in problem


@root_only
def test_in_a_sticky_directory_the_file_must_still_be_ours(tree: Path) -> None:
    tree.chmod(0o1777)
    check_trusted(tree / "jobs.yaml")
    os.chown(tree / "jobs.yaml", NOBODY, -1)
    assert "owned by nobody" in trust_problem(tree / "jobs.yaml")


def test_a_link_is_followed_and_both_ends_are_checked(tmp_path: Path, tree: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "jobs.yaml").symlink_to(tree / "jobs.yaml")
    check_trusted(links / "jobs.yaml")
    tree.chmod(0o777)  # the target's directory
    assert f"its directory {tree}" in trust_problem(links / "jobs.yaml")
    tree.chmod(0o755)
    links.chmod(0o777)  # the link's own directory: whoever writes it can point the link elsewhere
    assert f"its directory {links}" in trust_problem(links / "jobs.yaml")


def test_a_chain_of_links_checks_every_directory_on_the_way(tmp_path: Path, tree: Path) -> None:
    middle = tmp_path / "middle"
    middle.mkdir()
    (middle / "hop").symlink_to(tree / "jobs.yaml")
    (tmp_path / "first").symlink_to("middle/hop")
    check_trusted(tmp_path / "first")
    middle.chmod(0o777)
    assert f"its directory {middle}" in trust_problem(tmp_path / "first")


def test_a_device_is_judged_by_its_owner_not_its_mode(tmp_path: Path) -> None:
    check_trusted("/dev/null")  # crw-rw-rw- root: writing to it changes nothing read from it
    fifo = tmp_path / "env"
    os.mkfifo(fifo, 0o600)
    fifo.chmod(0o622)  # what others write into a pipe is what is read from it
    assert "group or others may write it" in trust_problem(fifo)


def test_a_link_loop_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert "cannot check" in trust_problem(tmp_path / "a")


def test_insecure_turns_a_refusal_into_one_warning(tree, caplog) -> None:
    jobfile = tree / "jobs.yaml"
    jobfile.chmod(0o666)
    set_insecure(True)
    with caplog.at_level(logging.WARNING, logger="schedctl.trust"):
        check_trusted(jobfile)
        check_trusted(jobfile)
    [record] = caplog.records
    assert f"{jobfile}: not trusted, used anyway (--insecure)" in record.getMessage()
    set_insecure(False)
    with pytest.raises(UntrustedFileError):
        check_trusted(jobfile)
    check_trusted(jobfile, insecure=True)  # a caller may decide for itself


# -- files schedctl keeps for itself ------------------------------------------------------------


def test_a_new_own_file_is_made_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        fd = open_own_file(str(tmp_path / "state.db.lock"))
    finally:
        os.umask(old)
    os.close(fd)
    assert stat.S_IMODE(os.stat(tmp_path / "state.db.lock").st_mode) == 0o600
    os.close(open_own_file(str(tmp_path / "state.db.lock")))  # and opens again


def test_an_own_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    (tmp_path / "state.db.lock").symlink_to(precious)
    with pytest.raises(OwnFileError, match="state.db.lock: is a symbolic link"):
        open_own_file(str(tmp_path / "state.db.lock"), os.O_RDWR | os.O_TRUNC)
    assert precious.read_text() == "keep me"


def test_an_own_file_with_a_second_name_is_refused(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    os.link(precious, tmp_path / "state.db.lock")
    with pytest.raises(OwnFileError, match="has 2 names"):
        open_own_file(str(tmp_path / "state.db.lock"), os.O_RDWR | os.O_TRUNC)
    assert precious.read_text() == "keep me"


@pytest.mark.parametrize(("mode", "words"), [(0o660, "group or others may write it")],
                         ids=["group-writable"])
def test_an_own_file_others_may_write_is_refused(tmp_path, mode, words) -> None:
    path = tmp_path / "state.db.lock"
    path.write_text("")
    path.chmod(mode)
    with pytest.raises(OwnFileError, match=words):
        check_own_file(str(path))


@root_only
def test_an_own_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db.lock"
    path.write_text("")
    os.chown(path, NOBODY, -1)
    with pytest.raises(OwnFileError, match="is owned by nobody"):
        check_own_file(str(path))
