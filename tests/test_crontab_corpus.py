"""The crontab corpus: each file imported, the jobfile validated, and every job's next
1,000 fire times compared with Debian cron's semantics (tests/cronref.py, a model built
from the rules alone, itself checked against the trigger conformance cases)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schedctl.crontab.build import import_crontabs
from schedctl.crontab.files import Source, expand, parse_source, read_source
from schedctl.jobfile.loader import parse_jobfile
from schedctl.jobfile.specs import JobSpec
from tests.cronref import fire_times

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "crontabs"
#: The zone of a machine whose crontab lines name none; with DST, so both rules are exercised.
MACHINE_ZONE = "Europe/Berlin"
START = datetime(2026, 1, 1, tzinfo=UTC)
COUNT = 1000
_CRON_TZ = re.compile(r"[ \t]*CRON_TZ[ \t]*=[ \t]*(\S*)")

#: Each corpus file, and the job ids its import must give, in order.
FILES = {
    "etc/crontab": ["cron.hourly", "cron.daily", "cron.weekly", "cron.monthly"],
    "etc/cron.d/certbot": ["certbot"],
    "etc/cron.d/e2scrub_all": ["e2scrub_all_cron", "e2scrub_all"],
    "etc/cron.d/mdadm": ["checkarray"],
    "etc/cron.d/php": ["sessionclean"],
    "etc/cron.d/sysstat": ["debian-sa1", "debian-sa1-2"],
    "users/alice": ["rsync", "mail", "pg_dump", "start-tunnel", "fetch-mail", "cleanup",
                    "cleanup-2", "cleanup-3", "midmonth-or-sunday", "half-year", "weekend"],
    "users/bob": ["poll-orders", "nightly", "echo", "weekly-london", "leap-day", "cat",
                  "quarterly-first-monday-or-early"],
}


def imported(name: str) -> tuple[str, dict[str, JobSpec]]:
    path = str(CORPUS / name)
    result = import_crontabs([parse_source(read_source(path))], "jobs.yaml")
    assert result.problems == []
    return result.text, result.jobfile.jobs


@pytest.mark.parametrize("name", FILES)
def test_each_file_imports_into_a_valid_jobfile_with_readable_ids(name: str) -> None:
    text, jobs = imported(name)
    assert list(jobs) == FILES[name]
    reread = parse_jobfile(text, "jobs.yaml")  # what 'schedctl validate' reads
    assert list(reread.jobs) == FILES[name]
    lines = (CORPUS / name).read_text().splitlines()
    for spec in jobs.values():
        assert f":{spec.line}: {lines[spec.line - 1]}" in text  # the line, kept beside its job


def _line_schedule(name: str, number: int) -> tuple[str, str]:
    """The crontab line's time spec and zone, read straight from the file."""
    lines = (CORPUS / name).read_text().splitlines()
    zone = MACHINE_ZONE
    for line in lines[: number - 1]:
        match = _CRON_TZ.match(line)
        if match:
            zone = match.group(1).strip("\"'") or MACHINE_ZONE
    words = lines[number - 1].split()
    return (words[0] if words[0].startswith("@") else " ".join(words[:5])), zone


CASES = [(name, job_id) for name, ids in FILES.items() for job_id in ids]


@pytest.mark.parametrize(("name", "job_id"), CASES, ids=[f"{n}:{j}" for n, j in CASES])
def test_a_thousand_fire_times_match_the_crontab_line(name: str, job_id: str) -> None:
    _, jobs = imported(name)
    spec = jobs[job_id]
    schedule, zone = _line_schedule(name, spec.line)
    if schedule.lower() == "@reboot":
        assert spec.trigger.kind == "reboot"
        return
    trigger = dataclasses.replace(spec, jitter=None).build_trigger(MACHINE_ZONE)
    got, previous = [], None
    for _ in range(COUNT):
        previous = trigger.get_next_fire_time(previous, START)
        assert previous is not None
        got.append(previous.astimezone(UTC))
    assert got == fire_times(schedule, ZoneInfo(zone), START, COUNT)


def test_cron_d_names_with_dots_or_tildes_are_skipped_as_cron_skips_them() -> None:
    files, notes = expand([str(CORPUS / "etc" / "cron.d")])
    assert [Path(f).name for f in files] == ["certbot", "e2scrub_all", "mdadm", "php", "sysstat"]
    assert sorted(Path(note.split(":")[0]).name for note in notes) == [
        ".placeholder", "backup~", "php.dpkg-old"]
    named, notes = expand([str(CORPUS / "etc" / "cron.d" / "php.dpkg-old")])
    assert named == [] and "no dots" in notes[0]


def test_the_readme_example_is_what_import_writes() -> None:
    section = (Path(__file__).parent.parent / "README.md").read_text().split(
        "\n## Coming from cron", 1)[1]
    crontab, jobfile = re.findall(r"^```[a-z]*\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)[1:3]
    result = import_crontabs([parse_source(Source("crontab", crontab), system=False)], "x.yaml")
    assert result.text == jobfile


# -- the reference model itself ------------------------------------------------------------------

def _conformance_cases() -> list[dict]:
    """The 5-field and macro crontab cases of the trigger conformance suite."""
    cases = json.loads((DATA / "triggers.json").read_text())
    return [
        case for case in cases
        if case.get("constructor") == "from_crontab" and not case.get("expect_error")
        and set(case["params"]) == {"expr"} and "jitter_seconds" not in case
        and (len(case["params"]["expr"].split()) == 5 or case["params"]["expr"].startswith("@"))
        and not re.search(r"[LW#]", case["params"]["expr"])
    ]


def test_the_reference_model_agrees_with_the_conformance_cases() -> None:
    cases = _conformance_cases()
    assert len(cases) > 150
    wrong = []
    for case in cases:
        after = datetime.fromisoformat(case["previous_fire_time"] or case["now"]).astimezone(UTC)
        want = case["expected_next"] and datetime.fromisoformat(case["expected_next"])
        got = fire_times(case["params"]["expr"], ZoneInfo(case["timezone"]), after, 1)
        if (got[0] if got else None) != (want and want.astimezone(UTC)):
            wrong.append(case["id"])
    assert wrong == []
