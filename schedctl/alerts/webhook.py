"""The ``webhook:`` alert: POST the JSON body of :meth:`AlertContext.to_json` to a URL.

The body is documented in :mod:`schedctl.alerts.context`. Any answer but 2xx is a
failure, and redirects are not followed. URLs are logged as scheme and host only: their
path and login often hold a token; header values are never shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from schedctl import __version__
from schedctl.alerts.context import AlertContext
from schedctl.alerts.spec import (
    AlertError,
    AlertSpec,
    AlertSpecError,
    check_timeout,
    failure_reason,
)

__all__ = ["WebhookAlert", "no_redirects", "safe_url", "url_problem"]


@dataclass(frozen=True, repr=False)
class WebhookAlert(AlertSpec):
    """POST the JSON body of :meth:`AlertContext.to_json` to ``url``."""

    kind: ClassVar[str] = "webhook"
    url: str
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", dict(self.headers))  # the caller's dict may change
        problem = url_problem(self.url)
        if problem:
            raise AlertSpecError(f"webhook alert: {problem}")
        check_timeout(self.timeout, "webhook alert")

    def __repr__(self) -> str:
        headers = dict.fromkeys(self.headers, "***")
        return f"WebhookAlert(url={safe_url(self.url)!r}, timeout={self.timeout!r}, headers={headers!r})"

    def describe(self) -> str:
        return f"webhook to {safe_url(self.url)}"

    def send(self, context: AlertContext) -> None:
        """POST the body; fail on anything but a 2xx answer within the timeout."""
        # Imported here: reading a jobfile builds alerts but should not pay for http and ssl.
        import http.client
        import urllib.error
        import urllib.request

        body = json.dumps(context.to_json()).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"schedctl/{__version__}"}
        request = urllib.request.Request(
            self.url, data=body, headers={**headers, **self.headers}, method="POST"
        )
        opener = urllib.request.build_opener(no_redirects())
        label = self.describe()
        try:
            with opener.open(request, timeout=self.timeout):
                pass
        except urllib.error.HTTPError as exc:
            exc.close()
            hint = " (redirects are not followed: give the final URL)" if exc.code < 400 else ""
            raise AlertError(
                f"{label}: the server answered HTTP {exc.code} {exc.reason}{hint}"
            ) from None
        except urllib.error.URLError as exc:
            raise AlertError(f"{label}: {failure_reason(exc.reason, self.timeout)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise AlertError(f"{label}: {failure_reason(exc, self.timeout)}") from None


def no_redirects() -> Any:
    """A handler that turns a redirect into its HTTP error: urllib would resend the POST
    as a GET without the body, and report success."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRedirects()


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot take a webhook POST, or None. Never quotes the URL: it may hold a token."""
    if not isinstance(url, str) or not url.strip():
        return "expected an http:// or https:// URL"
    if any(char.isspace() for char in url):
        return "the URL contains spaces or line breaks; percent-encode them (%20)"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6 address
        return "the URL's host is not valid"
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"expected an http:// or https:// URL, got {shown}"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port such as :99999 or :abc
    except ValueError:
        return "the URL's port is not a number from 1 to 65535"
    if not parts.hostname:
        return "the URL has no host name"
    return None


def safe_url(url: str) -> str:
    """``https://hooks.example.com/…``: scheme and host only; paths and logins often hold secrets."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<invalid URL>"
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{rest}"
