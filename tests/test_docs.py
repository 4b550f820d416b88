"""Docs cannot drift: the man pages, README.md and jobs.example.yaml against the code.

Every command and option of ``schedctl --help`` must be in schedctl(1), every key the
jobfile loader accepts in schedctl-jobfile(5), README.md and jobs.example.yaml, and both
pages must lint clean, carry the package version and be installed with the package.
The names come from the click group and the loader's own key tables, so a new command,
option or key fails here until it is documented.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from functools import cache
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import schedctl
from schedctl.cli import main
from schedctl.jobfile.alertkeys import ALERT_KINDS, EMAIL_KEYS, SENDMAIL_KEYS, WEBHOOK_KEYS
from schedctl.alerts.ping import METHODS, PLACEHOLDERS
from schedctl.jobfile.check import CLUSTER_KEYS, METRICS_KEYS, TOP_KEYS
from schedctl.jobfile.commandkeys import OUTPUT_MODES
from schedctl.jobfile.keys import EXECUTOR_KEYS, EXECUTOR_TYPES, JOB_KEYS, OVERLAP_POLICIES
from schedctl.jobfile.loader import load_jobfile, parse_jobfile
from schedctl.jobfile.pingkeys import PING_KEYS
from schedctl.jobfile.triggerkeys import CRON_FIELDS, INTERVAL_UNITS
from tests.prerequisites import INSTALL, need

ROOT = Path(__file__).resolve().parent.parent
MAN1 = ROOT / "man" / "schedctl.1"
MAN5 = ROOT / "man" / "schedctl-jobfile.5"
PAGES = [MAN1, MAN5]
README = ROOT / "README.md"
EXAMPLE = ROOT / "jobs.example.yaml"

#: Keys of the jobfile, by the man page section that describes them.
KEY_TABLES: dict[str, tuple[str, ...]] = {
    "TOP-LEVEL KEYS": tuple(TOP_KEYS),
    "EXECUTORS": tuple(EXECUTOR_KEYS),
    "CLUSTER": tuple(CLUSTER_KEYS),
    "METRICS": METRICS_KEYS,
    "JOBS": tuple(JOB_KEYS),
    "ALERTS": tuple(dict.fromkeys((*ALERT_KINDS, "timeout", *WEBHOOK_KEYS, *EMAIL_KEYS,
                                   *SENDMAIL_KEYS))),
    "PINGS": PING_KEYS,
}
#: The sections of KEY_TABLES whose every key jobs.example.yaml must use (the example
#: shows each kind of alert; the settings of a webhook or an email are reference matter).
EXAMPLE_TABLES: dict[str, tuple[str, ...]] = {
    "TOP-LEVEL KEYS": KEY_TABLES["TOP-LEVEL KEYS"],
    "EXECUTORS": KEY_TABLES["EXECUTORS"],
    "CLUSTER": KEY_TABLES["CLUSTER"],
    "METRICS": KEY_TABLES["METRICS"],
    "JOBS": KEY_TABLES["JOBS"],
    "ALERTS": tuple(ALERT_KINDS),
}
#: Names that sit inside a key's value: documented, but not each one used in the example.
VALUE_TABLES: dict[str, tuple[str, ...]] = {
    "cron field": CRON_FIELDS,
    "interval unit": INTERVAL_UNITS,
    "executor type": EXECUTOR_TYPES,
    "output mode": OUTPUT_MODES,
    "overlap policy": OVERLAP_POLICIES,
    "ping placeholder": PLACEHOLDERS,
    "ping method": METHODS,
}
COMMANDS = sorted(main.every_command())


# -- reading roff --------------------------------------------------------------------------------

_ESCAPES = {
    r"\-": "-", r"\(aq": "'", r"\(dq": '"', r"\(em": "—", r"\(en": "–", r"\(ti": "~",
    r"\(bu": "*", r"\(lq": '"', r"\(rq": '"', r"\|": "", r"\%": "", r"\&": "", r"\ ": " ",
}
_FONT = re.compile(r"\\f(?:\[[^]]*\]|\(..|.)")
_ARG = re.compile(r'"((?:[^"]|"")*)"|(\S+)')
#: Font macros whose arguments alternate fonts and are joined without a space.
_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}
_FONT_MACROS = {"B", "I", "SM", "SB"}


def unescape(text: str) -> str:
    """Roff escapes to plain characters, font changes removed: ``\\fB\\-\\-json\\fR`` -> ``--json``."""
    text = _FONT.sub("", text)
    for escape, plain in _ESCAPES.items():
        text = text.replace(escape, plain)
    return text.replace(r"\e", "\\")


def plain_line(line: str) -> str | None:
    """A roff line as the words it prints; None for a line that prints nothing (a macro)."""
    if line.startswith(('.\\"', "'\\\"")):
        return None
    if not line.startswith("."):
        return unescape(line)
    name, _, rest = line[1:].partition(" ")
    args = [bare or quoted.replace('""', '"') for quoted, bare in _ARG.findall(rest)]
    if name in _ALTERNATING:
        return unescape("".join(args))
    if name in _FONT_MACROS or name in ("SH", "SS"):
        return unescape(" ".join(args))
    return None


@cache
def sections(page: Path) -> dict[str, str]:
    """Plain text of each ``.SH`` section, and of each ``.SS`` as ``"SECTION/SUBSECTION"``."""
    found: dict[str, list[str]] = {}
    section = subsection = ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith((".SH ", ".SS ")):
            title = plain_line(line) or ""
            if line.startswith(".SH"):
                section, subsection = title, ""
            else:
                subsection = f"{section}/{title}"
            found.setdefault(subsection or section, [])
            continue
        text = plain_line(line)
        if text is not None:
            found.setdefault(section, []).append(text)
            if subsection:
                found[subsection].append(text)
    return {title: " ".join(" ".join(lines).split()) for title, lines in found.items()}


def command_section(name: str) -> str:
    """The text of ``.SS "NAME [OPTIONS] ..."`` under COMMANDS in schedctl(1)."""
    for title, text in sections(MAN1).items():
        if title.startswith("COMMANDS/") and title.split("/", 1)[1].split()[0] == name:
            return text
    pytest.fail(f"schedctl.1 has no '.SS {name} ...' subsection under COMMANDS")


def mentions(text: str, word: str) -> bool:
    """``word`` as a whole token: ``--state`` is not found in ``--state-dir``."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@cache
def all_tags(page: Path) -> list[tuple[str, str, str]]:
    """``(section, subsection, name)`` for every ``.TP`` entry: the first word of its tag."""
    found, section, subsection, after_tp = [], "", "", False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith((".SH ", ".SS ")):
            title = plain_line(line) or ""
            section, subsection = (title, "") if line.startswith(".SH") else (section, title)
        elif line.startswith(".TP"):
            after_tp = True
        elif after_tp and not line.startswith(".PD"):  # .PD 0 joins two tags into one entry
            after_tp = False
            text = plain_line(line)
            if text:
                found.append((section, subsection, text.split()[0].rstrip(":,")))
    return found


def tags(page: Path, section: str) -> set[str]:
    """The names of the ``.TP`` entries in ``section``."""
    return {name for sect, _, name in all_tags(page) if sect == section}


# -- schedctl(1) against --help -------------------------------------------------------------------

def options(command: click.Command) -> list[click.Option]:
    return [param for param in command.params if isinstance(param, click.Option)]


OPTION_CASES = [
    (name, flag)
    for name in COMMANDS
    for option in options(main.every_command()[name])
    for flag in option.opts + option.secondary_opts
]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_synopsis(name: str) -> None:
    assert mentions(sections(MAN1)["SYNOPSIS"], f"schedctl {name}"), name


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_subsection(name: str) -> None:
    assert command_section(name)


@pytest.mark.parametrize(("name", "flag"), OPTION_CASES, ids=[f"{n} {f}" for n, f in OPTION_CASES])
def test_every_option_is_under_its_command(name: str, flag: str) -> None:
    assert mentions(command_section(name), flag), f"schedctl {name} {flag} is not in schedctl.1"


def test_the_page_documents_no_command_or_option_that_is_gone() -> None:
    documented = {(sub.split()[0], flag) for sect, sub, flag in all_tags(MAN1)
                  if sect == "COMMANDS" and flag.startswith("-")}
    subsections = {title.split("/", 1)[1].split()[0] for title in sections(MAN1)
                   if title.startswith("COMMANDS/")}
    assert sorted(subsections - set(COMMANDS)) == []
    assert sorted(documented - set(OPTION_CASES)) == []


def _details(option: click.Option) -> list[str]:
    """What the page must say about an option besides its flags: default, choices, env var."""
    wanted = []
    if option.show_default and option.default is not None and not option.is_flag:
        wanted.append(f"Default: {option.default}")
    if isinstance(option.type, click.Choice):
        wanted.extend(str(choice) for choice in option.type.choices)
    if isinstance(option.envvar, str):
        wanted.append(option.envvar)
    return wanted


DETAIL_CASES = [
    (name, option.opts[-1], detail)
    for name in COMMANDS
    for option in options(main.every_command()[name])
    for detail in _details(option)
]


@pytest.mark.parametrize(
    ("name", "flag", "detail"), DETAIL_CASES, ids=[f"{n} {f} {d}" for n, f, d in DETAIL_CASES]
)
def test_option_defaults_choices_and_env_vars_match_help(name: str, flag: str, detail: str) -> None:
    assert detail in command_section(name), f"schedctl {name} {flag}: {detail!r} not in schedctl.1"


def test_global_options_are_documented() -> None:
    context = click.Context(main)
    help_option = main.get_help_option(context)
    assert help_option is not None
    flags = [flag for option in [*options(main), help_option] for flag in option.opts]
    text = sections(MAN1)["OPTIONS"]
    assert [flag for flag in flags if not mentions(text, flag)] == []


def test_env_vars_named_by_options_are_in_environment_section() -> None:
    named = {option.envvar for name in COMMANDS for option in options(main.every_command()[name])
             if isinstance(option.envvar, str)}
    text = sections(MAN1)["ENVIRONMENT"]
    assert sorted(var for var in named if not mentions(text, var)) == []


def _env_vars_read_by(path: Path) -> set[str]:
    """Names in ``os.environ.get("X")``, ``os.getenv("X")``, ``os.environ["X"]``, ``"X" in os.environ``."""
    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    def literal(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr == "get" and is_environ(node.func.value)) or node.func.attr == "getenv":
                name = literal(node.args[0])
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            name = literal(node.slice)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            name = literal(node.left)
        if name:
            found.add(name)
    return found


def test_env_vars_the_code_reads_are_documented() -> None:
    read = set().union(*(_env_vars_read_by(path) for path in (ROOT / "schedctl").rglob("*.py")))
    text = sections(MAN1)["ENVIRONMENT"]
    assert read, "found no environment variables: the AST walk is broken"
    assert sorted(var for var in read if not mentions(text, var)) == []


_SCHEDCTL_VAR = re.compile(r"\bSCHEDCTL_[A-Z_]+\b")


def _env_vars_given_by(path: Path) -> set[str]:
    """``SCHEDCTL_*`` names a module sets (``env["X"] = ...``, ``{"X": ...}``) or lists in its
    docstring, where names built at run time (alerts' ``SCHEDCTL_OUTCOME``) are told."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set(_SCHEDCTL_VAR.findall(ast.get_docstring(tree) or ""))
    for node in ast.walk(tree):
        keys: list[ast.expr | None] = []
        if isinstance(node, ast.Dict):
            keys = list(node.keys)
        elif isinstance(node, ast.Assign):
            keys = [target.slice for target in node.targets if isinstance(target, ast.Subscript)]
        found.update(key.value for key in keys if isinstance(key, ast.Constant)
                     and isinstance(key.value, str) and _SCHEDCTL_VAR.fullmatch(key.value))
    return found


def test_env_vars_given_to_commands_are_documented() -> None:
    given = set().union(*(_env_vars_given_by(path) for path in (ROOT / "schedctl").rglob("*.py")))
    assert "SCHEDCTL_JOB_ID" in given, "found no SCHEDCTL_JOB_ID: the AST walk is broken"
    text = " ".join(sections(MAN5).values())
    assert sorted(name for name in given if not mentions(text, name)) == []


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name: str) -> None:
    table = README.read_text(encoding="utf-8").split("\n## Commands", 1)[1].split("\n## ", 1)[0]
    assert f"`schedctl {name}" in table, f"README.md's command table lacks schedctl {name}"


# -- schedctl-jobfile(5), README.md and jobs.example.yaml against the loader's key tables ---------

KEY_CASES = [(section, key) for section, keys in KEY_TABLES.items() for key in keys]
KEY_IDS = [f"{section.split()[0].lower()}-{key}" for section, key in KEY_CASES]
EXAMPLE_CASES = [(section, key) for section, keys in EXAMPLE_TABLES.items() for key in keys]
EXAMPLE_IDS = [f"{section.split()[0].lower()}-{key}" for section, key in EXAMPLE_CASES]
VALUE_CASES = [(kind, name) for kind, names in VALUE_TABLES.items() for name in names]
VALUE_IDS = [f"{kind.replace(' ', '-')}-{name}" for kind, name in VALUE_CASES]


@pytest.mark.parametrize(("section", "key"), KEY_CASES, ids=KEY_IDS)
def test_every_key_has_an_entry_in_the_jobfile_page(section: str, key: str) -> None:
    assert key in tags(MAN5, section), f"schedctl-jobfile.5 has no '.TP' entry for {key} under {section}"


@pytest.mark.parametrize(("kind", "name"), VALUE_CASES, ids=VALUE_IDS)
def test_every_field_unit_and_type_is_in_the_jobfile_page(kind: str, name: str) -> None:
    text = " ".join(sections(MAN5).values())
    assert mentions(text, name), f"schedctl-jobfile.5 does not name the {kind} {name}"


@cache
def _readme_jobfile_code() -> set[str]:
    """Identifiers in the code spans of README.md's jobfile reference (``## The jobfile``)."""
    text = README.read_text(encoding="utf-8").split("\n## The jobfile", 1)[1].split("\n## ", 1)[0]
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)  # sample output
    spans = re.findall(r"`([^`\n]+)`", text)
    return set(re.findall(r"[A-Za-z_@][\w@]*", " ".join(spans)))


@pytest.mark.parametrize(("section", "key"), KEY_CASES, ids=KEY_IDS)
def test_every_key_is_in_the_readme(section: str, key: str) -> None:
    assert key in _readme_jobfile_code(), f"README.md's jobfile reference lacks `{key}`"


@pytest.mark.parametrize(("kind", "name"), VALUE_CASES, ids=VALUE_IDS)
def test_every_field_unit_and_type_is_in_the_readme(kind: str, name: str) -> None:
    assert name in _readme_jobfile_code(), f"README.md's jobfile reference lacks the {kind} `{name}`"


@cache
def _example_keys() -> dict[str, set[str]]:
    """The keys jobs.example.yaml uses, by KEY_TABLES section.

    A key shown commented out (``# state: /var/lib/...``) counts: the example must run
    on any machine, so a key whose every real value is machine-specific is shown that way.
    Such a comment at the start of a line stands for a top-level key, an indented one
    for a key of a pool or a job.
    """
    text = EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    top_comments = set(re.findall(r"^# ?([a-z_]+): ", text, flags=re.MULTILINE))
    nested_comments = set(re.findall(r"^[ \t]+# ?([a-z_]+): ", text, flags=re.MULTILINE))
    pools = (data.get("executors") or {}).values()
    jobs = [*(data.get("jobs") or {}).values(), data.get("defaults") or {}]
    alerts = [alert for job in jobs for key in ("on_failure", "on_recovery", "on_output")
              for alert in job.get(key) or []]
    return {
        "TOP-LEVEL KEYS": set(data) | top_comments,
        "EXECUTORS": {key for pool in pools for key in pool} | nested_comments,
        "CLUSTER": set(data.get("cluster") or {}) | nested_comments,
        "METRICS": set(data.get("metrics") or {}),
        "JOBS": {key for job in jobs for key in job} | nested_comments,
        "ALERTS": {key for alert in alerts for key in alert} | nested_comments,
    }


@pytest.mark.parametrize(("section", "key"), EXAMPLE_CASES, ids=EXAMPLE_IDS)
def test_every_key_is_in_the_example(section: str, key: str) -> None:
    assert key in _example_keys()[section], f"jobs.example.yaml does not demonstrate {key}"


def test_the_example_is_a_valid_jobfile() -> None:
    assert load_jobfile(EXAMPLE).jobs


def _page_jobfiles() -> list[str]:
    """The ``.EX`` blocks of schedctl-jobfile(5) that are jobfiles (they have ``jobs:``)."""
    blocks = re.findall(r"^\.EX\n(.*?)^\.EE$", MAN5.read_text(encoding="utf-8"),
                        flags=re.MULTILINE | re.DOTALL)
    return [unescape(block) for block in blocks if re.search(r"^jobs:", block, re.MULTILINE)]


@pytest.mark.parametrize("index", range(len(_page_jobfiles())))
def test_jobfiles_in_the_page_are_valid(index: int) -> None:
    # Not imported: the page's call: targets are made up.
    assert parse_jobfile(_page_jobfiles()[index], MAN5.name, check_imports=False).jobs


# -- the pages as files: lint, version, installation ----------------------------------------------

def _lint(page: Path) -> tuple[str, str]:
    """(tool, its complaints) from ``mandoc -T lint``, else from ``man --warnings -l``.

    mandoc first: it checks more, and gives the same answer everywhere, while ``man``
    may be a stub that prints a notice on minimized container images.
    """
    if shutil.which("mandoc"):
        # -W style: report everything, down to purely stylistic remarks; nothing is ignored.
        done = subprocess.run(["mandoc", "-T", "lint", "-W", "style", str(page)],
                              capture_output=True, text=True, check=False)
        return "mandoc -T lint", done.stdout + done.stderr
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"}
    done = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                          env=env, check=False)
    return "man --warnings -l", done.stderr + ("" if done.returncode == 0 else f"exit {done.returncode}")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_lints_clean(page: Path) -> None:
    need("mandoc", "mandoc", "man")
    tool, complaints = _lint(page)
    assert complaints == "", f"{tool} {page.name}:\n{complaints}"


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert (result.exit_code, result.output) == (0, f"schedctl, version {schedctl.__version__}\n")
    done = subprocess.run([sys.executable, "-m", "schedctl", "-V"], capture_output=True, text=True,
                          check=False, cwd=ROOT)
    assert (done.returncode, done.stdout) == (0, result.output)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_title_line_names_the_page_and_the_version(page: Path) -> None:
    title = next(line for line in page.read_text(encoding="utf-8").splitlines()
                 if line.startswith(".TH "))
    name, section, _date, source = [q or b for q, b in _ARG.findall(title[4:])][:4]
    assert (unescape(name), section) == (page.stem.upper(), page.suffix[1:])
    assert source == f"schedctl {schedctl.__version__}"


def test_pages_are_installed_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data_files = config["tool"]["setuptools"]["data-files"]
    pages = sorted((ROOT / "man").glob("*.[1-8]"))
    assert pages == sorted(PAGES)
    for page in pages:
        assert f"man/{page.name}" in data_files.get(f"share/man/man{page.suffix[1:]}", []), page.name
    declared = [path for paths in data_files.values() for path in paths]
    assert [path for path in declared if not (ROOT / path).is_file()] == []


def _setup_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Set up"):text.index("\n## ", text.index("## Set up") + 1)]


def test_readme_says_how_to_read_the_pages_from_a_development_checkout() -> None:
    """An editable install drops the pages a ``pip install .`` put in place: the README's
    set-up must give a command that reads them from the checkout, and it must work."""
    commands = re.findall(r"man (\./man/\S+\.[1-8])", _setup_section())
    assert sorted(ROOT / path for path in commands) == sorted(PAGES)
    need("mandoc", "man")
    for path in commands:
        done = subprocess.run(["man", path], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"},
                              check=False, timeout=60)
        assert done.returncode == 0 and "schedctl" in done.stdout, done.stderr


def test_readme_names_the_programs_the_suite_needs() -> None:
    """Each program the tests skip without (tests/prerequisites.py) that .ci/run installs is
    in the README's set-up, in its install command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    setup = _setup_section()
    install = re.search(r"apt-get install ([^\n`]+)", setup)
    assert install, "the set-up section has no install command for the test programs"
    installed_by_ci = set(re.findall(r"missing\+=\(([\w-]+)\)", ci))
    assert installed_by_ci, ".ci/run installs no program: the suite would skip or fail"
    for program in INSTALL:
        if program in installed_by_ci:
            assert program in install.group(1).split(), program


def test_the_readmes_failing_job_alert_matches_exactly_the_failure_outcomes() -> None:
    from schedctl.state.history import FAILURES, NEVER_STARTED, REPLACED

    rules = re.findall(r'schedctl_runs_total\{outcome(!~|=~)"([^"]+)"\}', README.read_text())
    assert rules, "the README shows no alert on schedctl_runs_total by outcome"
    outcomes = {*FAILURES, *NEVER_STARTED, REPLACED, "success"}
    for operator, pattern in rules:
        matched = {o for o in outcomes if (re.fullmatch(pattern, o) is not None) == (operator == "=~")}
        assert matched == set(FAILURES), f"{operator}{pattern!r} alerts on {sorted(matched)}"


def _help(*command: str) -> str:
    from tests.cli.conftest import SCHEDCTL

    done = subprocess.run([SCHEDCTL, *command, "--help"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "200"})
    return " ".join(done.stdout.split())


def test_history_help_names_every_outcome_and_failed_exactly_the_failures() -> None:
    """The outcome words of ``history --help`` are the history's own: a new outcome, or a
    new failure that --failed selects, fails here until the help says so."""
    from schedctl.state.history import FAILURES, NEVER_STARTED, REPLACED

    text = _help("history")
    outcomes = {"success", *FAILURES, *NEVER_STARTED, REPLACED}
    listed = text.split("Outcomes:", 1)[1].split("With --stats", 1)[0]
    assert sorted(o for o in outcomes if not mentions(listed, o)) == []
    failed = re.search(r"--failed [^:]*: (.*?)\.", text.split("Options:", 1)[1])
    assert failed, text
    assert sorted(re.findall(r"[a-z_]+", failed.group(1))) == sorted([*FAILURES, "or"])


@pytest.mark.parametrize("name", COMMANDS)
def test_help_examples_keep_their_lines(name: str) -> None:
    """Each example command of a docstring is a line of its own in ``--help``, not a
    paragraph click rewrapped (a missing blank line before ``\\b`` does that)."""
    from tests.cli.conftest import SCHEDCTL

    doc = main.every_command()[name].help or ""
    examples = [line.strip() for line in doc.split("Example", 1)[-1].splitlines()[1:]
                if line.strip().startswith(("schedctl ", "crontab ", "systemctl ", "EDITOR="))]
    assert examples, f"schedctl {name} --help shows no example"
    done = subprocess.run([SCHEDCTL, name, "--help"], capture_output=True, text=True, check=True,
                          env={**os.environ, "COLUMNS": "80"})
    shown = [line.strip() for line in done.stdout.splitlines()]
    assert [line for line in examples if line not in shown] == []


def _exposed_families() -> dict[str, str]:
    """Every metric family a scrape of ``schedctl run --metrics`` can show: name -> type."""
    from schedctl.metrics.exposition import ProcessCollector
    from schedctl.metrics.text import FAMILIES

    text = ProcessCollector(alerts={}, store_errors=0).text()
    process = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    return {**process, **{name: kind for name, kind, _ in FAMILIES}}


def test_the_metric_tables_name_every_family_with_its_type() -> None:
    exposed = _exposed_families()
    assert "schedctl_alerts_total" in exposed, exposed  # the process families were read
    readme = README.read_text(encoding="utf-8").split("\n## Monitoring", 1)[1]
    listed = dict(re.findall(r"^\| `(schedctl_\w+)` \| (\w+) \|", readme, flags=re.MULTILINE))
    assert listed == exposed
    paged = {name.split("{")[0] for sect, _, name in all_tags(MAN1) if sect == "METRICS"}
    assert paged >= set(exposed) and {n for n in paged if n.startswith("schedctl_")} == set(exposed)


PRODUCT_PACKAGES = ("alerts", "cli", "cluster", "commands", "crontab", "jobfile", "metrics",
                    "service", "state")


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_architecture_names_every_module_of_the_product(package: str) -> None:
    """ARCHITECTURE.md says what each module of a product package is for: a new module
    fails here until its package's paragraph names it."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = sorted(path.stem for path in (ROOT / "schedctl" / package).glob("*.py")
                     if path.stem != "__init__")
    named = set(re.findall(r"`([\w/.]+)`", text))
    def is_named(module: str) -> bool:
        forms = {module, f"{module}.py", f"{package}/{module}.py", f"{package}.{module}"}
        return bool(forms & named) or any(
            token.startswith((f"{module}.", f"{package}.{module}.")) for token in named)

    unnamed = [module for module in modules if not is_named(module)]
    assert unnamed == [], f"ARCHITECTURE.md does not name schedctl/{package}/{unnamed}"


@cache
def _option_tags() -> dict[tuple[str, str], str]:
    """``(command, first flag) -> the whole tag`` of each option entry under COMMANDS in
    schedctl(1): ``("history", "-n") -> "-n, --count COUNT"``."""
    found: dict[tuple[str, str], str] = {}
    section, command, after_tp = "", "", False
    for line in MAN1.read_text(encoding="utf-8").splitlines():
        if line.startswith(".SH "):
            section, command = plain_line(line) or "", ""
        elif line.startswith(".SS ") and section == "COMMANDS":
            command = (plain_line(line) or "").split()[0]
        elif line.startswith(".TP"):
            after_tp = True
        elif after_tp and not line.startswith(".PD"):
            after_tp = False
            tag = plain_line(line) or ""
            if command and tag.startswith("-"):
                found[(command, tag.split()[0].rstrip(","))] = " ".join(tag.split())
    return found


METAVAR_CASES = [
    (name, option) for name in COMMANDS for option in options(main.every_command()[name])
    if not option.is_flag
]


@pytest.mark.parametrize(("name", "option"), METAVAR_CASES,
                         ids=[f"{n} {o.opts[-1]}" for n, o in METAVAR_CASES])
def test_each_option_takes_the_same_value_name_in_help_and_page(name: str, option: click.Option) -> None:
    """``--state FILE|URL`` in both, not ``--state FILE`` in one and ``FILE|URL`` in the other."""
    context = click.Context(main.every_command()[name], info_name=name)
    metavar = option.make_metavar(context).strip("[]")
    flags = ", ".join(option.opts)
    assert _option_tags().get((name, option.opts[0])) == f"{flags} {metavar}"


def _readme_blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", README.read_text(encoding="utf-8"),
                      flags=re.MULTILINE | re.DOTALL)


def _as_jobfile(block: str) -> str | None:
    """A README YAML block as a whole jobfile: as it is, or a job's keys put into a job, or
    top-level keys given a job; None for what is no jobfile (Prometheus's own config)."""
    first = next(line for line in block.splitlines() if line.strip() and not line.startswith("#"))
    key = first.split(":", 1)[0]
    if key == "jobs" or re.search(r"^jobs:", block, flags=re.MULTILINE):
        return block
    if key in JOB_KEYS:
        body = textwrap.indent(block, "    ")
        return f"jobs:\n  example:\n    command: 'true'\n    interval: 1h\n{body}"
    if key in TOP_KEYS:
        return block + "\njobs:\n  example: {command: 'true', interval: 1h}\n"
    return None


README_JOBFILES = [text for text in map(_as_jobfile, _readme_blocks("yaml")) if text]


@pytest.mark.parametrize("text", README_JOBFILES, ids=[str(n) for n in range(len(README_JOBFILES))])
def test_the_readmes_jobfile_examples_are_valid(text: str) -> None:
    assert parse_jobfile(text, "README.md", check_imports=False).jobs


def test_the_readmes_crontab_converts_to_the_jobfile_it_shows() -> None:
    """'This crontab ... becomes': the README shows what 'schedctl import' really writes."""
    from tests.cli.conftest import SCHEDCTL

    text = README.read_text(encoding="utf-8").split("\n## Coming from cron", 1)[1]
    crontab = re.search(r"This crontab:\n\n```\n(.*?)```", text, flags=re.DOTALL)
    shown = re.search(r"becomes \(`schedctl import crontab`\):\n\n```yaml\n(.*?)```", text,
                      flags=re.DOTALL)
    assert crontab and shown, "the README's crontab example is gone"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "crontab").write_text(crontab.group(1))
        done = subprocess.run([SCHEDCTL, "import", "crontab"], cwd=folder, capture_output=True,
                              text=True, check=False)
    assert (done.returncode, done.stdout) == (0, shown.group(1))


def test_the_command_list_of_help_cuts_no_summary_at_80_columns() -> None:
    from tests.cli.conftest import SCHEDCTL

    done = subprocess.run([SCHEDCTL, "--help"], capture_output=True, text=True, check=True,
                          env={**os.environ, "COLUMNS": "80"})
    listed = done.stdout.split("Commands:", 1)[1].strip().splitlines()
    assert [line for line in listed if line.endswith("...")] == []
    assert sorted(line.split()[0] for line in listed) == COMMANDS
