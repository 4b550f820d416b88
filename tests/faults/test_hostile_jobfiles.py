"""Hostile jobfiles: whatever the file holds, the loader raises nothing but JobfileError and
the command line prints problems, never a traceback.

Inputs come from hypothesis: random YAML documents shaped like jobfiles (known keys,
plausible and absurd values), random bytes, and mutations of ``jobs.example.yaml``
(lines deleted, duplicated, swapped, re-indented, cut short; YAML tokens, tags, aliases and
control characters spliced in). A loaded jobfile must also be usable: every job builds
into an engine job whose trigger answers "when next?".

Then the two classic denials of service: an alias bomb ("billion laughs") and a 50 MB
jobfile, each refused within a second with a message that says what is wrong.
"""

from __future__ import annotations

import os
import string
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedctl.cli import main
from schedctl.jobfile.check import TOP_KEYS
from schedctl.jobfile.keys import JOB_KEYS
from schedctl.jobfile.loader import JobfileError, load_jobfile, parse_jobfile
from schedctl.state.sync import build_job
from schedctl.triggers.boot import BootTrigger

EXAMPLE = (Path(__file__).parents[2] / "jobs.example.yaml").read_text()
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

#: Values that reach deep into the checks: durations, crontab lines, zones, dates, sizes.
WORDS = [
    "1m", "0s", "-5s", "500ms", "1h30m", "100y", "1e308", "nan", "inf", "none", "null", "~",
    "* * * * *", "*/0 * * * *", "0 0 30 2 *", "0 0 31 2 MON#5", "@reboot", "@hourly", "@every",
    "60 * * * *", "* * * * * * *", "L W * * *", "0 2 * * 7L", "1-0 * * * *",
    "America/New_York", "Europe/Berln", "UTC", "Etc/GMT+14", "../../etc/passwd",
    "2026-02-30", "2026-12-01T09:00", "9999-12-31T23:59:59", "0001-01-01", "2026-03-08T02:30",
    "threadpool", "processpool", "log", "inherit", "discard", "skip", "replace", "64k", "1g",
    "os:system", "math:factorial", "no.such:thing", ":", "a:b:c", "echo hi", "", " ", "\t",
    "yes", "no", "on", "off", "0x1F", "0o17", "1_000", "+1", ".5", "true", "False",
]
JOB_KEY_NAMES = sorted(JOB_KEYS) + ["comand", "intervall", "cronn", "jobs", "<<"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(WORDS),
    st.datetimes(), st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(JOB_KEY_NAMES) | st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: A job that is valid as a base, so that most examples get past the first checks.
JOBS = st.builds(
    lambda base, extra: {**base, **extra},
    st.sampled_from([{"command": "true", "interval": "1m"}, {"command": ["true"], "cron": "* * * * *"},
                     {"call": "math:sqrt", "args": [4], "date": "2030-01-01T00:00"}, {}]),
    st.dictionaries(st.sampled_from(JOB_KEY_NAMES), VALUES, max_size=4),
)
DOCUMENTS = st.builds(
    lambda jobs, top: {**top, "jobs": jobs},
    st.dictionaries(st.text(string.ascii_letters + string.digits + "_.@:- é", max_size=12), JOBS,
                    max_size=4),
    st.dictionaries(st.sampled_from(list(TOP_KEYS) + ["jobz"]), VALUES, max_size=3),
) | VALUES

#: What a mutation splices in: YAML syntax that changes the meaning of what follows.
TOKENS = [
    "&a ", "*a", "<<: *a", "<<: [*a, *a]", "!!python/object/apply:os.system ['true']", "!custom ",
    "!!binary aGk=", "!!set {a, b}", "!!omap [a: 1]", "!!timestamp x", "!!int x", "!!float 1",
    "---", "...", "%YAML 1.2", "%TAG ! tag:x,2000:", "? ", "|", ">-", "{", "}", "[", "]", "'",
    '"', "\t", "\x00", "\x1b", "\ufeff", "\u2028", "#", ": ", "- ", "\\", "@", "`", "%",
]
FLOW = st.sampled_from([None, True, False])


@st.composite
def example_mutations(draw: st.DrawFn) -> str:
    lines = EXAMPLE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "splice", "value",
                                   "insert", "truncate"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "    ", "\t", ""])) + lines[i].lstrip(" ")
        elif op == "splice":
            at = draw(st.integers(0, len(lines[i])))
            token = draw(st.sampled_from(TOKENS) | st.text(max_size=5))
            lines[i] = lines[i][:at] + token + lines[i][at:]
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            value = draw(st.sampled_from(WORDS) | st.text(max_size=10))
            lines[i] = f"{key}: {value}\n"
        elif op == "insert":
            lines.insert(i, draw(st.text(max_size=30)) + "\n")
        elif op == "truncate":
            text = "".join(lines)
            return text[: draw(st.integers(0, len(text)))]
        if not lines:
            return ""
    return "".join(lines)


@st.composite
def dumped_documents(draw: st.DrawFn) -> str:
    return yaml.safe_dump(draw(DOCUMENTS), default_flow_style=draw(FLOW), allow_unicode=True)


ANY_JOBFILE = dumped_documents() | example_mutations() | st.text(max_size=200)

#: Examples per property; ``SCHEDCTL_FUZZ_EXAMPLES=20000 pytest tests/faults -k load`` digs deeper.
EXAMPLES = int(os.environ.get("SCHEDCTL_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def load_or_refuse(text: str | bytes) -> None:
    """The property: a JobfileError, or a jobfile whose every job can be built and planned."""
    try:
        loaded = parse_jobfile(text, "jobs.yaml", check_imports=False)
    except JobfileError as exc:
        assert exc.problems and all(str(p).startswith("jobs.yaml") for p in exc.problems)
        return
    for spec in loaded.jobs.values():
        job = build_job(spec, loaded)
        if not isinstance(job.trigger, BootTrigger):
            job.trigger.get_next_fire_time(None, NOW)


@FUZZ
@given(dumped_documents())
def test_random_documents_load_or_are_refused(text):
    load_or_refuse(text)


@FUZZ
@given(example_mutations())
def test_mutations_of_the_example_load_or_are_refused(text):
    load_or_refuse(text)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_random_bytes_and_text_load_or_are_refused(data):
    load_or_refuse(data)


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 1))
@given(ANY_JOBFILE)
def test_validate_never_prints_a_traceback(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "jobs.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(main, ["validate", str(path)])
    shown = result.output + (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert result.exit_code in (0, 2), shown
    assert "Traceback" not in shown
    if result.exit_code == 2:
        assert result.stderr.startswith(str(path)), shown


def test_the_example_itself_is_valid():
    load_or_refuse(EXAMPLE)
    assert load_jobfile(Path(__file__).parents[2] / "jobs.example.yaml", check_imports=False).jobs


# -- denial of service ---------------------------------------------------------------------------

LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 9)}]" for n in range(8)]
    + ["jobs: {x: {command: *i, interval: 1m}}", ""]
)
MERGE_BOMB = "\n".join(
    ["a: &a {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1}"]
    + [f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 10)}]" for n in range(7)]
    + ["jobs:", "  x:", "    <<: [*a]", "    command: true", "    interval: 1m", "    args: *h", ""]
)
BOMBS = {
    "billion-laughs": (LAUGHS, "alias bomb"),
    "merge-and-lists": (MERGE_BOMB, "alias bomb"),
    "recursive-alias": ("jobs: &j {x: {command: true, interval: 1m, args: [*j]}}\n", "alias to itself"),
    "deep-nesting": ("jobs: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
    "wide-flat": ("jobs: [" + ", ".join(["1"] * 150_000) + "]\n", "more than 100,000 values"),
}


@pytest.mark.parametrize(("text", "message"), BOMBS.values(), ids=BOMBS.keys())
def test_yaml_bombs_are_refused_within_a_second(tmp_path, schedctl, text, message):
    started = time.monotonic()
    with pytest.raises(JobfileError) as refused:
        parse_jobfile(text, "jobs.yaml")
    assert time.monotonic() - started < 1.0
    assert message in str(refused.value)

    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    for command in ("validate", "run"):
        started = time.monotonic()
        result = schedctl(command, path, timeout=10)
        took = time.monotonic() - started
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
        assert took < 1.5, f"{command} took {took:.2f}s"  # ~0.3 s of it is starting Python
    assert not (tmp_path / "state.db").exists()


def test_a_50_mb_jobfile_is_refused_unread_within_a_second(tmp_path, schedctl):
    path = tmp_path / "jobs.yaml"
    job = "  job{}:\n    command: echo {}\n    interval: 1m\n"
    with path.open("w") as out:
        out.write("jobs:\n")
        n = 0
        while out.tell() < 50 * 1024 * 1024:
            out.write("".join(job.format(n + k, "x" * 40) for k in range(1000)))
            n += 1000
        out.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(JobfileError, match=r"the jobfile is 50\.0 MiB; the limit is 1 MiB"):
        load_jobfile(path)
    assert time.monotonic() - started < 0.1
    for command in ("validate", "run"):
        started = time.monotonic()
        result = schedctl(command, path, timeout=10)
        took = time.monotonic() - started
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"schedctl: {path}: the jobfile is 50.0 MiB; the limit is 1 MiB\n"
        assert took < 1.5, f"{command} took {took:.2f}s"


@pytest.mark.parametrize(("path", "messages"), [
    # validate refuses a device unopened; run --insecure reads what it is told to, and stops
    # an endless one at 1 MiB.
    ("/dev/zero", ("it is a device (character device), not a file",
                   "the jobfile is 1,048,577 bytes; the limit is 1 MiB")),
    ("/dev/null", ("the jobfile is empty",) * 2),
    (".", ("is a directory",) * 2),
], ids=["endless", "empty", "directory"])
def test_a_jobfile_that_is_not_a_regular_file_is_refused(schedctl, path, messages):
    # As root, /dev/* are others-writable: run needs --insecure to get that far.
    for command, message in zip((["validate"], ["run", "--insecure"]), messages):
        result = schedctl(*command, path, timeout=10)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
