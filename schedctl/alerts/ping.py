"""Monitoring pings: tell a dead man's switch that a run started and how it ended.

By default a ping speaks the healthchecks.io protocol, which other monitors copy. For
each attempt of a run, with ``rid`` one UUID shared by both pings of the attempt::

    POST URL/start?rid=UUID          when it starts (empty body)
    POST URL/EXIT_CODE?rid=UUID      when it ends, the output tail (UTF-8) as the body
    POST URL/fail?rid=UUID           instead, after a timeout, a kill by a signal, a
                                     failure to start, an interruption or a raised error

The URL may hold ``{job_id}`` (healthchecks.io's slug URLs:
``https://hc-ping.com/PING_KEY/{job_id}``), so one ``ping:`` under ``defaults`` serves every job.

Other services get a URL template per phase (``start``, ``success``, ``failure``), with
``{rid}``, ``{job_id}``, ``{outcome}``, ``{exit_code}``, ``{duration}`` (seconds) and
``{duration_ms}`` filled in, URL-encoded; a phase without a template sends nothing. Pings
go out from the alert thread: a monitor that is slow or down never delays a job. Each
ping is tried ``1 + retries`` times (timeouts, refused connections, 5xx and 429 answers
are retried; other 4xx are not), then counted as failed and logged.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from schedctl import __version__
from schedctl.alerts.spec import AlertError, AlertSpecError, check_timeout, failure_reason
from schedctl.alerts.webhook import no_redirects, safe_url, url_problem

__all__ = ["BODY_BYTES", "PLACEHOLDERS", "PingDelivery", "PingEvent", "PingSpec",
           "PingSpecError", "ping_from_dict"]

#: Output sent with an end ping, at most: the end of the output, where the error usually is.
#: healthchecks.io keeps 100 kB; a self-hosted instance keeps 10,000 bytes by default.
BODY_BYTES = 10_000

#: What a URL template may name.
PLACEHOLDERS = ("rid", "job_id", "outcome", "exit_code", "duration", "duration_ms")

TEMPLATE_KEYS = ("start", "success", "failure")
METHODS = ("POST", "GET")

Phase = Literal["start", "end"]


class PingSpecError(AlertSpecError):
    """A ping's settings are invalid (no URL, an unknown placeholder, ...)."""


@dataclass(frozen=True, kw_only=True)
class PingEvent:
    """One ping's news: an attempt of ``job_id`` started, or ended with ``outcome``."""

    job_id: str
    rid: str
    phase: Phase
    outcome: str | None = None
    exit_code: int | None = None
    duration: float | None = None
    output_tail: str = ""

    def status(self) -> str:
        """The healthchecks.io end path: the exit code, or ``fail`` when there is none."""
        if self.outcome == "success":
            return str(self.exit_code or 0)
        if self.outcome == "failed" and self.exit_code is not None:
            return str(self.exit_code)
        return "fail"

    def values(self) -> dict[str, str]:
        """The placeholders' values; empty where one does not apply (at start)."""
        ended = self.phase == "end"
        return {
            "rid": self.rid, "job_id": self.job_id, "outcome": self.outcome or "",
            "exit_code": "" if self.exit_code is None else str(self.exit_code),
            "duration": f"{self.duration:.3f}" if ended and self.duration is not None else "",
            "duration_ms": str(round(self.duration * 1000))
            if ended and self.duration is not None else "",
        }


@dataclass(frozen=True, repr=False)
class PingSpec:
    """Where a job's pings go: a healthchecks.io ``url``, or one template per phase."""

    kind: ClassVar[str] = "ping"
    url: str | None = None
    start: str | None = None
    success: str | None = None
    failure: str | None = None
    method: str = "POST"
    timeout: float = 10.0
    retries: int = 2
    #: Seconds before the first retry, doubled for each next one (not a jobfile key).
    retry_delay: float = 1.0

    def __post_init__(self) -> None:
        problem = ping_problem(self)
        if problem:
            raise PingSpecError(f"ping: {problem}")

    def __repr__(self) -> str:
        return f"PingSpec({self.describe()}, method={self.method!r}, timeout={self.timeout!r})"

    def describe(self) -> str:
        """``ping to https://hc-ping.com/…``: scheme and host only, the path holds the key."""
        return f"ping to {safe_url(self.url or self.start or self.success or self.failure or '')}"

    def target(self, event: PingEvent) -> tuple[str, bytes | None] | None:
        """The URL and body of this ping, or None when this phase sends nothing."""
        if self.url is not None:
            path = "start" if event.phase == "start" else event.status()
            base = fill(self.url, {"job_id": event.job_id})
            url = _with_query(_join(base, path), {"rid": event.rid})
        else:
            template = self.start if event.phase == "start" else (
                self.success if event.outcome == "success" else self.failure)
            if template is None:
                return None
            url = fill(template, event.values())
        if self.method == "GET":
            return url, None
        body = event.output_tail.encode("utf-8", "replace")[-BODY_BYTES:] if event.phase == "end" else b""
        return url, body.decode("utf-8", "ignore").encode("utf-8")  # no half character at the cut

    def send(self, event: PingEvent) -> None:
        """Send now, retrying; raise :class:`AlertError` saying why the last try failed."""
        target = self.target(event)
        if target is None:
            return
        url, body = target
        tries = self.retries + 1
        for attempt in range(tries):
            try:
                self._request(url, body)
                return
            except _Retry as exc:
                reason = str(exc)
            if attempt + 1 < tries:
                threading.Event().wait(self.retry_delay * 2**attempt)
        raise AlertError(f"{self.describe()}: {reason} (tried {tries} times)")

    def _request(self, url: str, body: bytes | None) -> None:
        # Imported here: reading a jobfile builds pings but should not pay for http and ssl.
        import http.client
        import urllib.error
        import urllib.request

        headers = {"User-Agent": f"schedctl/{__version__}"}
        if body is not None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        request = urllib.request.Request(url, data=body, headers=headers, method=self.method)
        try:
            with urllib.request.build_opener(no_redirects()).open(request, timeout=self.timeout):
                pass
        except urllib.error.HTTPError as exc:
            exc.close()
            why = f"the server answered HTTP {exc.code} {exc.reason}"
            if exc.code >= 500 or exc.code == 429:
                raise _Retry(why) from None
            raise AlertError(f"{self.describe()}: {why}") from None
        except urllib.error.URLError as exc:
            raise _Retry(failure_reason(exc.reason, self.timeout)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Retry(failure_reason(exc, self.timeout)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the state store; :func:`ping_from_dict` reads it back."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Retry(Exception):
    """A failure worth trying again: the monitor may be back in a moment."""


@dataclass(frozen=True)
class PingDelivery:
    """A ping for the alert thread (:meth:`AlertDispatcher.submit`)."""

    spec: PingSpec
    event: PingEvent
    kind: ClassVar[str] = "ping"

    @property
    def job_id(self) -> str:
        return self.event.job_id

    def describe(self) -> str:
        return f"{self.event.phase} {self.spec.describe()}"

    def send(self) -> None:
        self.spec.send(self.event)


def ping_from_dict(data: dict[str, Any]) -> PingSpec:
    """The inverse of :meth:`PingSpec.to_dict`."""
    known = {f.name for f in fields(PingSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PingSpecError(f"ping: unknown keys {', '.join(unknown)}")
    return PingSpec(**data)


def ping_problem(spec: PingSpec) -> str | None:
    """What is wrong with a ping's settings, or None. Never quotes a URL: it holds a key."""
    templates = [key for key in TEMPLATE_KEYS if getattr(spec, key) is not None]
    if (spec.url is None) == (not templates):
        return ("give either url (the healthchecks.io protocol) or URL templates for "
                "start, success and failure, not both" if templates else
                "give a url, or URL templates for start, success and failure")
    if spec.method not in METHODS:
        return f"method must be POST or GET, got {spec.method!r}"
    try:
        check_timeout(spec.timeout, "ping")
    except AlertSpecError as exc:
        return str(exc).removeprefix("ping: ")
    if isinstance(spec.retries, bool) or not isinstance(spec.retries, int) or spec.retries < 0:
        return f"retries must be a whole number of 0 or more, got {spec.retries!r}"
    if spec.url is not None:
        return template_problem(spec.url, ("job_id",))
    for key in templates:
        problem = template_problem(getattr(spec, key))
        if problem:
            return f"{key}: {problem}"
    return None


def template_problem(template: object, allowed: tuple[str, ...] = PLACEHOLDERS) -> str | None:
    """Why a URL template cannot be filled in, or None."""
    if not isinstance(template, str):
        return "expected an http:// or https:// URL"
    try:
        fields_ = [(name, spec or conv) for _, name, spec, conv in string.Formatter().parse(template)
                   if name is not None]
    except ValueError:
        return "unbalanced { or } (write {{ and }} for the characters themselves)"
    names = [name for name, shaped in fields_ if not shaped]
    shaped = [name for name, shaped in fields_ if shaped]
    if shaped:
        return f"write placeholders plainly, such as {{{shaped[0]}}}"
    for name in names:
        if name not in allowed:
            return f"unknown placeholder {{{name}}} (expected one of: {', '.join(allowed)})"
    return url_problem(fill(template, dict.fromkeys(allowed, "x")))


def fill(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its URL-encoded value."""
    return template.format_map({key: quote(value, safe="") for key, value in values.items()})


def _join(url: str, segment: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + segment))


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))
