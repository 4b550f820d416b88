"""The suite's own rule for missing programs (tests/prerequisites.py): a newcomer's run
skips what it cannot run and says what to install; a CI run fails instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pgserver
from tests.conftest import start_postgres
from tests.prerequisites import need


@pytest.fixture
def no_programs(tmp_path, monkeypatch) -> None:
    """A PATH without mandoc, man or PostgreSQL, and no PostgreSQL in its usual places."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pgserver, "_candidate_dirs", lambda: [str(tmp_path)])


@pytest.mark.parametrize(("program", "check", "hint"), [
    ("mandoc", lambda: need("mandoc", "mandoc", "man"), "apt-get install mandoc"),
    ("postgresql", start_postgres, "apt-get install postgresql"),
], ids=["mandoc", "postgresql"])
def test_a_missing_program_skips_with_the_install_command(no_programs, monkeypatch, program,
                                                          check, hint):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        check()
    assert program in str(skipped.value) and hint in str(skipped.value)


@pytest.mark.parametrize("check", [lambda: need("mandoc", "mandoc", "man"), start_postgres],
                         ids=["mandoc", "postgresql"])
def test_a_missing_program_fails_under_ci(no_programs, monkeypatch, check):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        check()
    assert "CI runs every test" in str(failed.value)


def test_ci_run_is_strict():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "export CI=" in ci  # the script's own runs fail on a missing program too
