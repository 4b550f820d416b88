"""Crontab files -> a checked jobfile: what ``import`` writes and what ``run`` runs.

Both go through the same steps: parse, convert, write the jobfile text, and read that
text back with the jobfile loader. So a crontab run as it is behaves exactly like the
jobfile ``import`` writes for it, and that jobfile always validates: should the loader
refuse a job the converter let through, that job is turned into a CANNOT CONVERT
comment, with the loader's reason, and the text written again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from schedctl.crontab.convert import Conversion, Job, Skipped, convert
from schedctl.crontab.files import Source, looks_like_crontab, parse_source, read_source
from schedctl.crontab.lines import Crontab
from schedctl.crontab.writer import Written, write_jobfile
from schedctl.jobfile.loader import Jobfile, JobfileError, load_jobfile, parse_jobfile
from schedctl.jobfile.yamlmarks import Problem


@dataclass
class Imported:
    """The jobfile text, its loaded form, and the crontab lines that could not be converted."""

    text: str
    jobfile: Jobfile
    problems: list[Problem] = field(default_factory=list)


def import_crontabs(crontabs: Iterable[Crontab], filename: str = "<import>") -> Imported:
    """Convert ``crontabs`` into one jobfile; ``filename`` is the path it is meant for."""
    conversion = convert(crontabs)
    for _ in range(len(conversion.jobs) + 1):  # each round turns at least one job into a comment
        written = write_jobfile(conversion)
        try:
            jobfile = parse_jobfile(written.text, filename, check_imports=False)
        except JobfileError as error:
            _refuse(conversion, error.problems, written)
            continue
        jobs = {job_id: dataclasses.replace(spec, line=written.origins[job_id][1])
                for job_id, spec in jobfile.jobs.items()}
        return Imported(written.text, dataclasses.replace(jobfile, jobs=jobs),
                        conversion.problems)
    raise AssertionError("the converter wrote a jobfile it could not fix")  # pragma: no cover


def crontab_jobfile(source: Source, *, system: bool | None = None) -> Jobfile:
    """The jobfile of one crontab, as ``run`` and ``validate`` use it.

    Raises JobfileError listing every line that cannot be converted, at its ``file:line``.
    """
    imported = import_crontabs([parse_source(source, system)], source.name)
    if imported.problems:
        raise JobfileError(imported.problems)
    return imported.jobfile


def load_any(
    path: str, *, crontab: bool | None = None, system: bool | None = None,
    check_imports: bool = True, check_trust: bool = False,
) -> Jobfile:
    """A jobfile, or a crontab converted in memory: ``crontab`` None decides by the content
    (``--system`` implies a crontab). With ``check_trust``, the text is read only from a
    file that passes the trust rule as it is opened (:func:`schedctl.trust.open_trusted`).
    ``-`` reads standard input, named ``<stdin>`` in messages."""
    if crontab is None and system:
        crontab = True
    if crontab is False:
        return load_jobfile(path, check_imports=check_imports, check_trust=check_trust)
    try:
        source = read_source(path, check_trust=check_trust)
    except Exception:
        if crontab:
            raise
        return load_jobfile(path, check_imports=check_imports, check_trust=check_trust)
    if crontab or looks_like_crontab(source.text):
        return crontab_jobfile(source, system=system)
    # The text judged is the text loaded: read once, so a pipe (<(...), /dev/stdin) works
    # and a file replaced meanwhile is not half one version, half another.
    return parse_jobfile(source.text, source.name, check_imports=check_imports)


def _refuse(conversion: Conversion, problems: list[Problem], written: Written) -> None:
    """Turn the jobs the loader refused into Skipped lines carrying its messages; a problem
    outside any job (in ``defaults``) means no job can be trusted to run as meant."""
    by_job: dict[str | None, list[Problem]] = {}
    for problem in problems:
        by_job.setdefault(written.job_at(problem.line), []).append(problem)
    for _, items in conversion.files:
        for index, item in enumerate(items):
            if isinstance(item, Job) and (item.id in by_job or None in by_job):
                found = by_job.get(item.id) or by_job[None]
                reason = "; ".join(f"{p.key_path}: {p.message}" if p.key_path else p.message
                                   for p in found)
                items[index] = Skipped(item.entry, f"the jobfile refuses it: {reason}")
