"""The check of ``ping:``: a healthchecks.io URL, the same with options, or URL templates
for other monitors. Messages never quote a URL: a ping URL is its monitor's key."""

from __future__ import annotations

from typing import Any

from schedctl.alerts.ping import (
    METHODS,
    PLACEHOLDERS,
    TEMPLATE_KEYS,
    PingSpec,
    PingSpecError,
    template_problem,
)
from schedctl.jobfile.values import (
    Bad,
    Check,
    check_count,
    check_positive_duration,
    inside,
    nonempty_text,
    unknown_key,
)
from schedctl.jobfile.yamlmarks import Field, Node, describe

PING_KEYS = ("url", *TEMPLATE_KEYS, "method", "timeout", "retries")


def check_ping(node: Node) -> PingSpec | None:
    """``ping: URL``, ``ping: {url: URL, timeout: 5s}``, or ``ping: {start: T, success: T,
    failure: T, method: GET}``; null turns off a ``ping`` of ``defaults``."""
    if node.value is None:
        return None
    if not node.is_mapping:
        return _build({"url": _url(node, ("job_id",))})
    fields: dict[str, Field] = node.value
    for key, field in fields.items():
        if key not in PING_KEYS:
            raise Bad(unknown_key(key, PING_KEYS), field, f".{key}")
    templates = [key for key in TEMPLATE_KEYS if key in fields]
    if ("url" in fields) == bool(templates):
        if templates:
            raise Bad(f"give url or {', '.join(TEMPLATE_KEYS)}, not both", fields["url"], ".url")
        raise Bad("give url (a healthchecks.io ping URL) or URL templates for "
                  f"{', '.join(TEMPLATE_KEYS)}")
    options = {key: inside(f".{key}", field.node, _CHECKS[key]) for key, field in fields.items()}
    return _build(options)


def _build(options: dict[str, Any]) -> PingSpec:
    try:
        return PingSpec(**options)
    except PingSpecError as exc:  # the checks above should catch everything first
        raise Bad(str(exc).removeprefix("ping: ")) from None


def _url(node: Node, allowed: tuple[str, ...]) -> str:
    url = nonempty_text(node, "an http:// or https:// URL").strip()
    problem = template_problem(url, allowed)
    if problem:
        raise Bad(problem)
    return url


def _template(node: Node) -> str:
    return _url(node, PLACEHOLDERS)


def _method(node: Node) -> str:
    method = nonempty_text(node, "POST or GET").strip().upper()
    if method not in METHODS:
        raise Bad(f"expected POST or GET, got {describe(node.value)}")
    return method


_CHECKS: dict[str, Check] = {
    "url": lambda node: _url(node, ("job_id",)),
    "start": _template,
    "success": _template,
    "failure": _template,
    "method": _method,
    "timeout": check_positive_duration,
    "retries": check_count,
}
