"""A commented jobfile from a :class:`~schedctl.crontab.convert.Conversion`.

The crontab's comments and blank lines stay where they were; each environment line
and each job line is quoted above what it became (``# /etc/crontab:22: 17 * * * * ...``);
a line that could not be converted is kept under ``# CANNOT CONVERT file:line: reason``.
Settings every job shares go to ``defaults``, the rest into the jobs, each with the
``file:line`` of the environment line that set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from schedctl.crontab.convert import Conversion, Job, Note, Setting, Skipped, shared_defaults
from schedctl.crontab.lines import Blank, Comment, Line
from schedctl.crontab.yamltext import block, comment, double_quoted, key, scalar

_INDENT = "  "
#: Text that stays plain inside ``[...]`` and ``{...}``: no commas, brackets or quotes.
_FLOW_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*")
#: The order of a job's keys after its action and trigger; ``env`` comes last.
_SETTING_ORDER = ("shell", "cwd", "timezone", "jitter", "user", "on_output")


@dataclass
class Written:
    """The jobfile's text, and the crontab line (file, number) behind each job id."""

    text: str
    origins: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: ``(line in text, job id)`` where each job starts, in order.
    starts: list[tuple[int, str]] = field(default_factory=list)

    def job_at(self, line: int) -> str | None:
        """The job written at ``line`` of the text, or None above the first job."""
        owner = None
        for start, job_id in self.starts:
            if start > line:
                break
            owner = job_id
        return owner


def write_jobfile(conversion: Conversion) -> Written:
    """The jobfile text for ``conversion``; it validates as it is (the caller checks)."""
    writer = _Writer(conversion)
    return Written(writer.text(), writer.origins, writer.starts)


class _Writer:
    def __init__(self, conversion: Conversion) -> None:
        self.conversion = conversion
        self.defaults = shared_defaults(conversion.jobs)
        self.out: list[str] = []
        self.origins: dict[str, tuple[str, int]] = {}
        self.starts: list[tuple[int, str]] = []

    def text(self) -> str:
        self._header()
        if self.defaults:
            self.out.append("defaults:")
            self._settings(self.defaults, _INDENT)
            self.out.append("")
        jobs = self.conversion.jobs
        self.out.append("jobs:" if jobs else "jobs: {}")
        several = len(self.conversion.files) > 1
        for crontab, items in self.conversion.files:
            if several:
                self._blank()
                self.out.append(f"{_INDENT}# ---- {comment(crontab.filename)} ----")
            for item in items:
                self._item(item)
        while self.out and not self.out[-1]:
            self.out.pop()
        return "\n".join(self.out) + "\n"

    def _header(self) -> None:
        names = ", ".join(crontab.filename for crontab, _ in self.conversion.files) or "(none)"
        self.out += [
            "# A jobfile converted from crontab lines by 'schedctl import'.",
            f"# From: {comment(names)}",
            "# Above each job is the line it came from. Check it with 'schedctl validate'.",
        ]
        failed = len(self.conversion.problems)
        if failed:
            self.out.append(f"# {failed} line(s) could not be converted: see CANNOT CONVERT below.")
        self.out.append("")

    def _blank(self) -> None:
        if self.out and self.out[-1]:
            self.out.append("")

    def _item(self, item: Line | Job | Skipped | Note) -> None:
        if isinstance(item, Blank):
            self._blank()
        elif isinstance(item, Comment):
            self.out.append(_INDENT + comment(item.text.strip(" \t")))
        elif isinstance(item, Note):
            remark = f"  ({item.remark})" if item.remark else ""
            self.out.append(f"{_INDENT}# {_quoted_line(item.line)}{comment(remark)}")
        elif isinstance(item, Skipped):
            self.out.append(f"{_INDENT}# CANNOT CONVERT {item.line.where}: {comment(item.reason)}")
            self.out.append(f"{_INDENT}#   {comment(item.line.text)}")
        elif isinstance(item, Job):
            self._job(item)

    def _job(self, job: Job) -> None:
        entry = job.entry
        inner = _INDENT * 2
        if self.out and self.out[-1].startswith(inner):  # right after another job
            self.out.append("")
        self.out.append(f"{_INDENT}# {_quoted_line(entry)}")
        self.starts.append((len(self.out) + 1, job.id))
        self.out.append(f"{_INDENT}{key(job.id)}:")
        self.origins[job.id] = (entry.filename, entry.number)
        if job.description:
            self.out.append(f"{inner}description: {scalar(job.description)}")
        self.out.append(f"{inner}cron: {double_quoted(job.cron)}")
        self.out.append(f"{inner}command: {scalar(entry.command)}")
        if entry.stdin is not None:
            self.out.append(f"{inner}stdin: {block(entry.stdin, inner + _INDENT)}")
        own = {name: setting for name, setting in job.settings.items()
               if not setting.same_value(self.defaults.get(name))}
        self._settings(own, inner)
        self.out.extend(f"{inner}# {comment(note)}" for note in job.notes)

    def _settings(self, settings: dict[str, Setting], indent: str) -> None:
        for name in _SETTING_ORDER:
            if name in settings:
                self.out.append(f"{indent}{name}: {_value(settings[name])}")
        env = {name[4:]: setting for name, setting in settings.items() if name.startswith("env.")}
        if env:
            self.out.append(f"{indent}env:")
            for name, setting in env.items():
                self.out.append(f"{indent}{_INDENT}{key(name)}: {_value(setting)}")


def _value(setting: Setting) -> str:
    value = setting.value
    shown = _flow(value) if isinstance(value, list | dict) else scalar(str(value))
    return f"{shown}  # {comment(setting.source.where)}"


def _flow(value: Any) -> str:
    """Lists and mappings on one line: ``[{sendmail: {to: ops@example.com}}]``."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(name)}: {_flow(item)}" for name, item in value.items()) + "}"
    text = str(value)
    return text if _FLOW_PLAIN.fullmatch(text) else double_quoted(text)


def _quoted_line(line: Line) -> str:
    return comment(f"{line.where}: {line.text}")
