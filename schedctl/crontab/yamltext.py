"""YAML scalars written by hand, each one checked to read back as the same text.

The jobfile writer keeps comments and order, which ``yaml.dump`` cannot; so it writes
the text itself and asks this module how to spell each value: plain when that reads
back unchanged (``cd / && run-parts /etc/cron.daily``), else single-quoted, else
double-quoted with escapes; a multi-line value as a ``|`` block when possible.
"""

from __future__ import annotations

import re

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Characters YAML reads as line breaks, or refuses raw: they need an escape.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def scalar(value: str) -> str:
    """``value`` as a one-line YAML scalar that reads back as exactly ``value``."""
    if value and value == value.strip() and _reads_back(value, value):
        return value
    if not _NEEDS_ESCAPE.search(value):
        quoted = "'" + value.replace("'", "''") + "'"
        if _reads_back(quoted, value):
            return quoted
    return double_quoted(value)


def double_quoted(value: str) -> str:
    """``"..."`` with an escape for ``\\``, ``"`` and each character YAML would not keep."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _NEEDS_ESCAPE.sub(lambda match: _escape(match.group()), escaped) + '"'


def _escape(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate (from undecodable bytes) has no escape
        return "\\uFFFD"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def key(name: str) -> str:
    """A mapping key: as it is when it is a plain name, quoted otherwise."""
    return name if _SIMPLE_KEY.fullmatch(name) else scalar(name)


def block(value: str, indent: str) -> str:
    """A ``|`` block for multi-line text (the lines after the key), or a quoted scalar."""
    # Not for text ending in two line breaks: keeping them (|+) would take in the blank
    # lines that follow the block in the file.
    if "\n" in value and not value.endswith("\n\n") and _fits_block(value):
        chomp = "" if value.endswith("\n") else "-"
        body = value.removesuffix("\n")
        lines = [f"{indent}{line}" if line else "" for line in body.split("\n")]
        text = f"|{chomp}\n" + "\n".join(lines)
        if _reads_back(text, value, as_block=True):
            return text
    return scalar(value)


def comment(text: str) -> str:
    """``text`` safe inside a ``#`` comment: control characters shown as escapes."""
    return _NEEDS_ESCAPE.sub(lambda match: _escape(match.group()), text)


def _fits_block(value: str) -> bool:
    first = next((line for line in value.split("\n") if line.strip()), "")
    return (
        bool(first)
        and not first[0].isspace()  # the first line's indentation sets the block's
        and not _NEEDS_ESCAPE.search(value.replace("\n", ""))
        and all(not line or line.strip() for line in value.split("\n"))  # no all-blank lines
    )


def _reads_back(text: str, value: str, *, as_block: bool = False) -> bool:
    document = f"k: {text}\n"
    try:
        loaded = yaml.load(document, Loader=_Loader)
    except yaml.YAMLError:
        return False
    return isinstance(loaded, dict) and loaded.get("k") == value
