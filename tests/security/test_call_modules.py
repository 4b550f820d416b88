"""A module of a ``call:`` job that another user can change is never imported.

The jobfile's directory may pass the rule and still hold a module that another user
owns or may write: a tree unpacked from that user's archive keeps its owners, and a
``__pycache__`` that user owns can hold a compiled file Python loads instead of the
source. Each of these once ran that user's code as root.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import signal
from pathlib import Path

import pytest

from tests.security.conftest import make_dir, needs_root, write
from tests.security.test_attacks import keeps_ticking, ticking_site

pytestmark = needs_root

GOOD = "def work():\n    pass\n"


def evil(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('imported')\ndef work():\n    pass\n"


def compiled(source: str, like: Path) -> bytes:
    """A .pyc of ``source`` that Python takes for the compiled form of ``like``: the
    header holds ``like``'s mtime and size, which is all Python compares."""
    info = like.stat()
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
    header += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    header += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    return header + marshal.dumps(compile(source, str(like), "exec"))


def plant(layout: str, etc: Path, users, marker: Path) -> tuple[str, Path]:
    """Set up the module as an administrator would have, then let the attacker change it;
    the ``call:`` target, and the file the refusal must name."""
    attacker = users.attacker
    if layout == "package-owned-by-attacker":
        package = make_dir(etc / "tools", 0o755, owner=attacker.uid)
        write(package / "__init__.py", "", owner=attacker.uid)
        module = write(package / "reports.py", GOOD)
        attacker.sh(f"printf '%s' {_quote(evil(marker))} > __init__.py", cwd=package)
        return "tools.reports:work", package / "__init__.py"
    module = write(etc / "reports.py", GOOD)
    if layout == "module-owned-by-attacker":
        os.chown(module, attacker.uid, attacker.gid)
    elif layout == "module-writable-by-all":
        module.chmod(0o666)
    if layout == "pycache-owned-by-attacker":
        cache = make_dir(etc / "__pycache__", 0o755, owner=attacker.uid)
        payload = etc.parent / "payload.pyc"  # where the attacker can read it
        payload.write_bytes(compiled(evil(marker), module))
        payload.chmod(0o644)
        pyc = Path(importlib.util.cache_from_source(str(module)))
        attacker.sh(f"cp {payload} {cache / pyc.name}")
        return "reports:work", cache / pyc.name
    attacker.sh(f"printf '%s' {_quote(evil(marker))} > {module}")
    return "reports:work", module


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


LAYOUTS = ["module-owned-by-attacker", "module-writable-by-all", "package-owned-by-attacker",
           "pycache-owned-by-attacker"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_call_module_another_user_can_change_is_refused_at_start(
    users, site, schedctl, layout,
):
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o700)
    marker = site / "pwned"
    target, named = plant(layout, etc, users, marker)
    jobfile = write(etc / "jobs.yaml", f"""
        state: {var}/state.db
        jobs:
          report: {{call: "{target}", cron: "0 0 1 1 *"}}
    """)

    for command in ("run", "validate"):  # validate imports call: targets too
        result = schedctl(command, jobfile)
        assert result.returncode == 2, result.stderr
        assert f"cannot import '{target}': {named}: not trusted: " in result.stderr
        assert "Traceback" not in result.stderr
        assert not marker.exists()


def test_a_call_module_another_user_can_change_is_refused_at_reload(
    users, site, scheduler,
):
    etc, state, jobfile, daemon = ticking_site(site, scheduler)
    marker = site / "pwned"
    target, named = plant("module-owned-by-attacker", etc, users, marker)

    with jobfile.open("a") as stream:  # root adds the job the new module is for
        stream.write(f'  report: {{call: "{target}", cron: "0 0 1 1 *"}}\n')
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("Reload failed")

    assert f"cannot import '{target}': {named}: not trusted: it is owned by " \
           f"{users.attacker.name}" in daemon.log()
    keeps_ticking(state, log=daemon.log)
    assert not marker.exists()


def test_a_module_that_passes_is_imported_and_runs(site, schedctl):
    """The guard refuses what another user could change, nothing else: a module root
    owns, in a package and with a compiled file, still loads."""
    etc = make_dir(site / "etc", 0o755)
    package = make_dir(etc / "tools", 0o755)
    write(package / "__init__.py", "")
    write(package / "reports.py", GOOD)
    jobfile = write(etc / "jobs.yaml", f"""
        state: {site}/var/state.db
        jobs:
          report: {{call: "tools.reports:work", cron: "0 0 1 1 *"}}
    """)
    first = schedctl("validate", jobfile)
    assert first.returncode == 0, first.stderr
    assert schedctl("validate", jobfile).returncode == 0  # with __pycache__ written, if it was


@pytest.mark.parametrize("layout", ["sticky-pycache", "sticky-package"])
def test_a_call_module_directory_anyone_may_add_to_is_refused_even_if_sticky(
    users, site, schedctl, layout,
):
    """A sticky directory lets another user add a file once a check found none there: a
    compiled file that Python then prefers to the source, or a module of the package. The
    rule the jobfile's directory gets (nobody else may add files to it) holds for each
    directory a module is loaded from."""
    etc, var = make_dir(site / "etc", 0o755), make_dir(site / "var", 0o700)
    if layout == "sticky-pycache":
        write(etc / "reports.py", GOOD)
        named, target = make_dir(etc / "__pycache__", 0o1777), "reports:work"
    else:
        named, target = make_dir(etc / "tools", 0o1777), "tools.reports:work"
        write(named / "__init__.py", "")
        write(named / "reports.py", GOOD)
    jobfile = write(etc / "jobs.yaml", f"""
        state: {var}/state.db
        jobs:
          report: {{call: "{target}", cron: "0 0 1 1 *"}}
    """)
    result = schedctl("validate", jobfile)
    assert result.returncode == 2, result.stderr
    assert (f"cannot import '{target}': {named}: not trusted: group or others may add files "
            "to it (mode drwxrwxrwt)") in result.stderr
    assert "Traceback" not in result.stderr
