"""Collecting a jobfile's problems: each key checked where it is written, each failure
recorded with its line and key path, never raised, so one run reports all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schedctl.jobfile.values import Bad, Check, unknown_key
from schedctl.jobfile.yamlmarks import Field, Node, Problem, describe

INVALID: Any = object()  # the value of a key whose check failed (already reported)


@dataclass(frozen=True)
class Entry:
    """A checked key: its normalized value (or INVALID), where it was written, and whence."""

    value: Any
    field: Field
    key_path: str
    from_defaults: bool = False


class Collector:
    """Gathers the problems of one file."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []

    def add(self, where: Node | Field, key_path: str, message: str) -> None:
        self.problems.append(Problem(self.filename, where.line, where.column, key_path, message))

    def check(self, node: Node, key_path: str, check: Check) -> Any:
        """``check(node)``, or INVALID after reporting why not."""
        try:
            return check(node)
        except Bad as bad:
            self.add(bad.at or node, key_path + bad.suffix, bad.message)
            return INVALID

    def keys(self, node: Node, path: str, checks: dict[str, Check]) -> dict[str, Entry]:
        """Check every key of a mapping node against ``checks``; unknown keys are problems."""
        entries: dict[str, Entry] = {}
        for key, field in node.value.items():
            key_path = f"{path}.{key}"
            if key not in checks:
                self.add(field, key_path, unknown_key(key, checks))
                continue
            entries[key] = Entry(self.check(field.node, key_path, checks[key]), field, key_path)
        return entries

    def section(self, field: Field, what: str) -> dict[str, Field]:
        """A mapping-valued section; null counts as empty (everything commented out)."""
        if field.node.value is None:
            return {}
        if not field.node.is_mapping:
            self.add(field.node, field.key, f"expected {what}, got {describe(field.node.value)}")
            return {}
        return dict(field.node.value)
