"""What an alert is: the base class of the transports, their errors, and reading one from a dict.

An alert spec is a frozen dataclass that says where to send (a command, a URL, a mail
server, the local sendmail) and knows how: each transport is one subclass in a module of
its own (:mod:`schedctl.alerts.command`, :mod:`~schedctl.alerts.webhook`,
:mod:`~schedctl.alerts.email`, :mod:`~schedctl.alerts.sendmail`), registered under its ``kind`` when that module is
imported, which the package does. Passwords and header values are never logged, and
webhook URLs are shown without their path, which often holds a token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from schedctl.errors import SchedctlError

if TYPE_CHECKING:
    from schedctl.alerts.context import AlertContext

__all__ = ["AlertError", "AlertSpec", "AlertSpecError", "alert_from_dict"]


class AlertError(SchedctlError):
    """An alert could not be sent; the message says which one and why, without secrets."""


class AlertSpecError(SchedctlError, ValueError):
    """An alert's settings are invalid (an ftp:// URL, an email without recipients, ...)."""


_KINDS: dict[str, type[AlertSpec]] = {}


@dataclass(frozen=True)
class AlertSpec(ABC):
    """One way of sending an alert. A new transport is a subclass with its own ``kind``."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[cls.kind] = cls

    @abstractmethod
    def describe(self) -> str:
        """How logs name it, without anything secret."""

    @abstractmethod
    def send(self, context: AlertContext) -> None:
        """Send it now, in this thread; raise :class:`AlertError` saying why it failed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, every field included (the password too: it is for the state store)."""
        data: dict[str, Any] = {"type": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        if "headers" in data:
            data["headers"] = dict(data["headers"])
        return data


def alert_from_dict(data: Mapping[str, Any]) -> AlertSpec:
    """The inverse of ``to_dict``: ``{"type": "webhook", "url": ...}`` -> a WebhookAlert."""
    values = dict(data)
    cls = _KINDS.get(values.pop("type", None))
    if cls is None:
        raise AlertSpecError(
            f"alert type must be one of {', '.join(_KINDS)}, got {data.get('type')!r}"
        )
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AlertSpecError(f"{cls.kind} alert: unknown keys {', '.join(unknown)}")
    if isinstance(values.get("command"), list):
        values["command"] = tuple(values["command"])
    if isinstance(values.get("to"), list):
        values["to"] = tuple(values["to"])
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise AlertSpecError(f"{cls.kind} alert: {exc}") from None


def check_timeout(timeout: object, what: str) -> None:
    """Raise :class:`AlertSpecError` unless ``timeout`` is a positive number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise AlertSpecError(
            f"{what}: timeout must be a positive number of seconds, got {timeout!r}"
        )


def failure_reason(exc: object, timeout: float) -> str:
    """Why a network transport failed, in a few words (``no answer within 10s``)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
