"""The PATH search made before the child starts: it must pick what the child's own search
would exec, or leave the search to the child. Real directories and real programs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schedctl.commands.pathsearch import find_program
from schedctl.commands.runner import run_command
from schedctl.commands.spec import CommandSpec


def program(path: Path, text: str = "#!/bin/sh\necho {name}\n", mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.format(name=path.parent.name))
    path.chmod(mode)
    return path


def env_with(path: str) -> dict[bytes, bytes]:
    return {b"PATH": os.fsencode(path)}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    return tmp_path / "first", tmp_path / "second", tmp_path / "third"


def test_finds_the_first_executable_in_path_order(dirs):
    first, second, third = dirs
    first.mkdir()
    program(second / "prog")
    program(third / "prog")
    found = find_program("prog", env_with(f"{first}:{second}:{third}"))
    assert found == os.fsencode(second / "prog")


@pytest.mark.parametrize("blocker", ["not executable", "a directory"], ids=["mode", "dir"])
def test_skips_what_exec_would_refuse(dirs, blocker):
    first, second, _ = dirs
    if blocker == "a directory":
        (first / "prog").mkdir(parents=True)
    else:
        program(first / "prog", mode=0o644)
    program(second / "prog")
    assert find_program("prog", env_with(f"{first}:{second}")) == os.fsencode(second / "prog")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("./prog", "{first}"),  # a path: exec'd as given, no search
        ("sub/prog", "{first}"),
        ("", "{first}"),
        ("prog", ":{first}"),  # an empty entry is the child's working directory
        ("prog", "bin:{first}"),  # so is a relative one
        ("missing", "{first}"),  # nothing found: the child's search words the error
    ],
    ids=["dot-slash", "subdir", "empty-name", "empty-entry", "relative-entry", "not-found"],
)
def test_leaves_the_search_to_the_child(dirs, name, path):
    first, _, _ = dirs
    program(first / "prog")
    assert find_program(name, env_with(path.format(first=first))) is None


def test_without_path_uses_the_default_search_path():
    expected = next(p for p in os.defpath.split(":") if p and os.access(f"{p}/sh", os.X_OK))
    assert find_program("sh", {}) == os.fsencode(f"{expected}/sh")


def test_a_program_installed_between_runs_is_run_by_the_next(dirs):
    first, second, _ = dirs
    first.mkdir()
    program(second / "prog")
    spec = CommandSpec(("prog",), env={"PATH": f"{first}:{second}"})
    assert run_command(spec, job_id="t").output_tail == "second\n"
    program(first / "prog")
    assert run_command(spec, job_id="t").output_tail == "first\n"
    (first / "prog").unlink()
    assert run_command(spec, job_id="t").output_tail == "second\n"


def test_a_found_program_that_cannot_be_exec_d_falls_back_to_the_child_s_search(dirs):
    """An interpreter that does not exist: exec fails, and the child's search goes on to
    the next directory, as it always did."""
    first, second, _ = dirs
    program(first / "prog", "#!/nonexistent/interpreter\n")
    program(second / "prog")
    spec = CommandSpec(("prog",), env={"PATH": f"{first}:{second}"})
    result = run_command(spec, job_id="t")
    assert (result.outcome, result.output_tail) == ("success", "second\n")


def test_argv0_stays_the_name_the_job_gave(dirs):
    first, _, _ = dirs
    program(first / "prog", '#!/bin/sh\necho "$0"\n')
    spec = CommandSpec(("prog",), env={"PATH": str(first)})
    assert run_command(spec, job_id="t").output_tail == f"{first}/prog\n"
    spec = CommandSpec(("sh", "-c", 'echo "$0"'), env={"PATH": "/usr/bin:/bin"})
    assert run_command(spec, job_id="t").output_tail == "sh\n"


def test_a_directory_named_twice_is_looked_in_once(dirs):
    first, second, _ = dirs
    first.mkdir()
    program(second / "prog")
    path = f"{first}:{first}:{second}:{first}"
    assert find_program("prog", env_with(path)) == os.fsencode(second / "prog")
