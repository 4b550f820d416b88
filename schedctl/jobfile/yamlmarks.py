"""YAML text -> a tree of values that remember their line and column.

``yaml.safe_load`` forgets where each value was written and silently keeps the
last of two duplicate keys, so a jobfile error could not say ``jobs.yaml:12:5``.
Here PyYAML only composes nodes; this module builds the values itself, which
lets it record marks, refuse duplicate keys, and measure alias expansion
*before* expanding anything (a "billion laughs" document is a few hundred bytes
that would expand to 10**9 values).

Mapping keys are kept as the text written: ``on:``, ``123:`` and ``2026-01-01:``
become the strings 'on', '123' and '2026-01-01', not True, 123 and a date
(YAML 1.1 reads ``on``/``off``/``yes``/``no`` as booleans, a trap for job ids and key names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

from schedctl.jobfile.cronhints import syntax_hint

#: Values a document may expand to, aliases included; a jobfile of 1,000 jobs uses ~20,000.
MAX_NODES = 100_000
#: How deep mappings and lists may nest; a jobfile needs 5.
MAX_DEPTH = 64

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

# libyaml is ~6x faster and refuses absurd nesting itself; the pure-Python
# parser is the fallback where PyYAML was built without it.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class MarkedLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A SafeLoader used only to compose nodes and to construct single scalars.

    Building mappings and lists is left to :func:`compose`, because SafeLoader's
    own construction drops marks and lets a duplicate key win silently.
    """

    def scalar(self, node: yaml.ScalarNode) -> Any:
        """The Python value of one scalar (``on`` -> True, ``2026-12-01`` -> a date)."""
        return self.construct_object(node, deep=True)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a jobfile, where it is, and what to do about it."""

    filename: str
    line: int  # 1-based; 0 when the problem is with the file as a whole
    column: int  # 1-based; 0 when the problem is with the file as a whole
    key_path: str  # "jobs.backup.cron", "" for problems above any key
    message: str

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}:{self.column}" if self.line else self.filename
        return (
            f"{where}: {self.key_path}: {self.message}"
            if self.key_path
            else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Node:
    """A value with the place it was written.

    ``value`` is ``dict[str, Field]`` for a mapping, ``list[Node]`` for a list,
    else the scalar PyYAML made of it. ``text`` is the source text of a plain
    (unquoted) scalar, so a field that wants a string can take ``no`` or ``080``
    as written instead of as YAML 1.1's False and 80.
    """

    value: Any
    line: int
    column: int
    text: str | None = None

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass(frozen=True)
class Field:
    """A mapping entry: the key, where the key was written, and its value."""

    key: str
    line: int
    column: int
    node: Node


def to_plain(node: Node) -> Any:
    """The node's value without marks: dicts, lists and scalars, for args and kwargs."""
    if node.is_mapping:
        return {key: to_plain(field.node) for key, field in node.value.items()}
    if node.is_list:
        return [to_plain(item) for item in node.value]
    return node.value


def describe(value: Any) -> str:
    """How a value is named in a message: ``a mapping``, ``null``, ``'yes please'``."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compose(text: str, filename: str) -> tuple[Node | None, list[Problem]]:
    """Parse one YAML document into marked nodes.

    Returns ``(None, problems)`` when the text cannot be read at all (a syntax
    error, an alias bomb) and ``(node, problems)`` otherwise; problems found
    while building (duplicate keys, unknown tags) do not stop the build, so
    the caller can report them together with its own.
    """
    try:
        if _too_many_events(text):
            return None, [Problem(filename, 1, 1, "", _too_many(distinct=MAX_NODES, expanded=0))]
        raw = _compose_raw(text)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc, text, filename)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(exc, text, filename)]
    except RecursionError:  # only the pure-Python composer recurses; libyaml limits nesting
        return None, [
            Problem(filename, 1, 1, "", f"the YAML nests more than {MAX_DEPTH} levels deep")
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(filename, 0, 0, "", f"cannot read the YAML: {exc}")]
    if raw is None:
        return None, []
    refusal = _measure(raw)
    if refusal:
        return None, [Problem(filename, 1, 1, "", refusal)]
    builder = _Builder(filename)
    return builder.build(raw, ""), builder.problems


def _too_many_events(text: str) -> bool:
    """Count values before composing them: building 500,000 nodes of a 1 MiB
    ``[1,1,1,...]`` takes seconds, streaming past 100,000 events a tenth of that."""
    loader = MarkedLoader(text)
    try:
        count = 0
        while loader.check_event():
            count += isinstance(loader.get_event(), yaml.NodeEvent)
            if count > MAX_NODES:
                return True
        return False
    finally:
        loader.dispose()


def _compose_raw(text: str) -> yaml.Node | None:
    loader = MarkedLoader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    if exc.context and "single document" in exc.context:
        message = "the jobfile holds more than one YAML document ('---'); keep one"
        return Problem(filename, line, column, "", message)
    message = exc.problem or "invalid YAML"
    if exc.context:
        at = f" on line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{at})"
    if mark and _char_at(text, mark.line, mark.column) == "\t":
        message += "; indent with spaces, YAML does not allow tabs"
    elif mark:
        message += syntax_hint(exc.problem, _line_at(text, mark.line), mark.column)
    return Problem(filename, line, column, "", f"invalid YAML: {message}")


def _line_at(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if line < len(lines) else ""


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column : column + 1] if line < len(lines) else ""


def _reader_problem(exc: yaml.reader.ReaderError, text: str, filename: str) -> Problem:
    position = max(0, min(int(exc.position), len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = exc.character
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return Problem(
        filename, line, column, "", f"the jobfile contains the control character {shown}; remove it"
    )


def _measure(root: yaml.Node) -> str | None:
    """Why the document is refused (alias bomb, recursion, nesting), or None.

    Counts what the document *would* expand to, memoized per node, so a billion
    laughs costs a few hundred steps instead of 10**9.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, depth)
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            in_progress.discard(id(node))
            known = [sizes[id(child)] for child in children]
            size = 1 + sum(s for s, _ in known)
            depth = 1 + max((d for _, d in known), default=0)
            if size > MAX_NODES or len(sizes) >= MAX_NODES:
                return _too_many(distinct=len(sizes) + 1, expanded=size)
            if depth > MAX_DEPTH:
                return f"the YAML nests more than {MAX_DEPTH} levels deep; a jobfile needs 5"
            sizes[id(node)] = (size, depth)
            continue
        if id(node) in in_progress:
            return "the YAML contains an alias to itself (a recursive structure); remove it"
        in_progress.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in in_progress:
                return "the YAML contains an alias to itself (a recursive structure); remove it"
            if id(child) not in sizes:
                stack.append((child, False))
    return None


def _too_many(*, distinct: int, expanded: int) -> str:
    if expanded > 2 * distinct:  # most of it comes from repeating aliases
        return (
            f"the YAML expands to more than {MAX_NODES:,} values through its aliases "
            "(an alias bomb?); write the values out or use fewer aliases"
        )
    return f"the jobfile holds more than {MAX_NODES:,} values; split it into several jobfiles"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Builder:
    """Turns composed nodes into :class:`Node` values, collecting problems on the way."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._scalars = MarkedLoader("")

    def problem(self, mark: Any, key_path: str, message: str) -> None:
        self.problems.append(
            Problem(self.filename, mark.line + 1, mark.column + 1, key_path, message)
        )

    def build(self, raw: yaml.Node, path: str) -> Node:
        mark = raw.start_mark
        if isinstance(raw, yaml.ScalarNode):
            return self._scalar(raw, path)
        expected = _MAP if isinstance(raw, yaml.MappingNode) else _SEQ
        if raw.tag != expected:  # !!set, !!omap, !custom: report once, then read as null
            message = f"the YAML tag {_short_tag(raw.tag)} is not supported here"
            self.problem(mark, path, message)
            return Node(None, mark.line + 1, mark.column + 1)
        if isinstance(raw, yaml.MappingNode):
            return Node(self._mapping(raw, path), mark.line + 1, mark.column + 1)
        items = [self.build(item, f"{path}[{index}]") for index, item in enumerate(raw.value)]
        return Node(items, mark.line + 1, mark.column + 1)

    def _scalar(self, raw: yaml.ScalarNode, path: str) -> Node:
        mark = raw.start_mark
        plain = raw.style in (None, "")  # libyaml says '' where PyYAML says None
        try:
            value = self._scalars.scalar(raw)
        except Exception as exc:  # noqa: BLE001 - constructors raise KeyError, ValueError, AttributeError...
            if plain and self._implicit(raw):  # YAML guessed a type (2026-02-30: a date); keep text
                return Node(raw.value, mark.line + 1, mark.column + 1, raw.value)
            detail = (
                "" if isinstance(exc, KeyError) else f": {getattr(exc, 'problem', None) or exc}"
            )
            shown = describe(str(raw.value))
            self.problem(mark, path, f"cannot read {shown} as {_tag_name(raw.tag)}{detail}")
            value = raw.value
        if isinstance(value, (set, tuple)):  # only reachable through explicit tags
            value = raw.value
        return Node(value, mark.line + 1, mark.column + 1, raw.value if plain else None)

    def _implicit(self, raw: yaml.ScalarNode) -> bool:
        """True when the tag came from the text (``2026-02-30``), not from ``!!int``."""
        return bool(self._scalars.resolve(yaml.ScalarNode, raw.value, (True, False)) == raw.tag)

    def _mapping(self, raw: yaml.MappingNode, path: str) -> dict[str, Field]:
        fields: dict[str, Field] = {}
        own: dict[str, Field] = {}
        for key_node, value_node in raw.value:
            if key_node.tag == _MERGE:
                self._merge(fields, own, value_node, path)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = f"{path}.{key}" if path else key
            mark = key_node.start_mark
            if key in own:
                first = own[key].line
                self.problem(
                    mark, key_path, f"duplicate key {key!r} (first given on line {first}); keep one"
                )
                continue
            field = Field(key, mark.line + 1, mark.column + 1, self.build(value_node, key_path))
            own[key] = fields[key] = field
        return fields

    def _key(self, key_node: yaml.Node, path: str) -> str | None:
        if isinstance(key_node, yaml.ScalarNode):
            return str(key_node.value)
        self.problem(key_node.start_mark, path, "a key must be a plain name, not a mapping or list")
        return None

    def _merge(
        self, fields: dict[str, Field], own: dict[str, Field], value: yaml.Node, path: str
    ) -> None:
        """Apply a ``<<: *defaults`` merge: keys written in the mapping itself win."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem(
                    value.start_mark, path, "'<<' merges need a mapping or a list of mappings"
                )
                return
            for key, field in self._mapping(source, path).items():
                if key not in own and key not in fields:
                    fields[key] = field


def _tag_name(tag: str) -> str:
    names = {"int": "a number", "float": "a number", "bool": "true or false", "timestamp": "a date"}
    short = tag.rsplit(":", 1)[-1]
    return names.get(short, f"YAML type {_short_tag(tag)}")


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")
