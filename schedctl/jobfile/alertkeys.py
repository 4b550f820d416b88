"""The checks of ``on_failure``, ``on_recovery`` and ``on_output``: a list of command,
webhook, email and sendmail alerts. Messages never quote a URL, header value or password: they often
carry a credential."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from schedctl.alerts.command import CommandAlert
from schedctl.alerts.email import EmailAlert, is_port
from schedctl.alerts.sendmail import SendmailAlert
from schedctl.alerts.spec import AlertSpec, AlertSpecError
from schedctl.alerts.webhook import WebhookAlert, url_problem
from schedctl.jobfile.commandkeys import check_command
from schedctl.jobfile.values import (
    Bad,
    Check,
    as_text,
    check_bool,
    check_positive_duration,
    inside,
    mapping,
    nonempty_text,
    text,
    unknown_key,
)
from schedctl.jobfile.yamlmarks import Field, Node, describe

ALERT_KINDS = ("command", "webhook", "email", "sendmail")
_ALERT_ITEM_KEYS = (*ALERT_KINDS, "timeout")
WEBHOOK_KEYS = ("url", "timeout", "headers")
EMAIL_KEYS = ("host", "port", "starttls", "username", "password", "from", "to", "timeout")
SENDMAIL_KEYS = ("to", "from", "path", "timeout")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EMAIL_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
#: A local user, as cron's MAILTO may name one: the MTA delivers to its mailbox.
_LOCAL_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def check_alerts(node: Node) -> tuple[AlertSpec, ...]:
    """A list of ``- command: ...``, ``- webhook: ...`` and ``- email: {...}`` items."""
    if node.value is None:
        return ()
    if not node.is_list:
        hint = " (start each alert with '- ')" if node.is_mapping else ""
        raise Bad(f"expected a list of alerts, got {describe(node.value)}{hint}")
    return tuple(inside(f"[{index}]", item, _alert) for index, item in enumerate(node.value))



def _alert(node: Node) -> AlertSpec:
    if not node.is_mapping:
        raise Bad(f"expected an alert such as {{webhook: https://...}}, got {describe(node.value)}")
    fields: dict[str, Field] = node.value
    _known_keys(fields, _ALERT_ITEM_KEYS)
    kinds = [key for key in ALERT_KINDS if key in fields]
    if len(kinds) != 1:
        found = f" (found {' and '.join(kinds)})" if kinds else ""
        raise Bad(f"give exactly one of {', '.join(ALERT_KINDS)}{found}")
    kind = kinds[0]
    if kind != "command" and "timeout" in fields:
        message = f"a {kind} alert's timeout goes inside it: {kind}: {{..., timeout: 10s}}"
        raise Bad(message, fields["timeout"], ".timeout")
    try:
        if kind == "command":
            return CommandAlert(**_options(fields, _COMMAND_ALERT_CHECKS))
        if kind == "webhook":
            return inside(".webhook", fields["webhook"].node, _webhook)
        if kind == "sendmail":
            return inside(".sendmail", fields["sendmail"].node, _sendmail)
        return inside(".email", fields["email"].node, _email)
    except AlertSpecError as exc:  # the alert's own checks; the ones here should catch all first
        raise Bad(str(exc)) from None


def _known_keys(fields: dict[str, Field], known: tuple[str, ...]) -> None:
    for key, field in fields.items():
        if key not in known:
            raise Bad(unknown_key(key, known), field, f".{key}")


def _required(fields: dict[str, Field], keys: tuple[str, ...], what: str) -> None:
    missing = [key for key in keys if key not in fields]
    if missing:
        raise Bad(f"missing {' and '.join(missing)}: {what} needs {', '.join(keys)}")


def _options(fields: dict[str, Field], checks: dict[str, Check]) -> dict[str, Any]:
    """The checked values of the keys given; the alert classes hold the defaults."""
    return {
        key: inside(f".{key}", field.node, checks[key])
        for key, field in fields.items()
        if key in checks
    }


def _webhook(node: Node) -> WebhookAlert:
    if not node.is_mapping:
        return WebhookAlert(check_url(node))
    fields: dict[str, Field] = node.value
    _known_keys(fields, WEBHOOK_KEYS)
    _required(fields, ("url",), "a webhook")
    return WebhookAlert(**_options(fields, _WEBHOOK_CHECKS))


def _email(node: Node) -> EmailAlert:
    fields = mapping(node, "a mapping with host, from and to")
    _known_keys(fields, EMAIL_KEYS)
    _required(fields, ("host", "from", "to"), "an email alert")
    options = _options(fields, _EMAIL_CHECKS)
    if ("username" in options) != ("password" in options):
        given = "username" if "username" in options else "password"
        raise Bad("give both username and password, or neither", fields[given], f".{given}")
    options["from_addr"] = options.pop("from")
    return EmailAlert(**options)


def _sendmail(node: Node) -> SendmailAlert:
    """``sendmail: ops@example.com``, a list of recipients, or a mapping of SENDMAIL_KEYS;
    ``sendmail: {}`` mails the user the job ran as."""
    if node.value is None:
        return SendmailAlert()
    if not node.is_mapping:
        return SendmailAlert(to=check_recipients(node))
    fields: dict[str, Field] = node.value
    _known_keys(fields, SENDMAIL_KEYS)
    options = _options(fields, _SENDMAIL_CHECKS)
    if "from" in options:
        options["from_addr"] = options.pop("from")
    return SendmailAlert(**options)


def check_recipient(node: Node) -> str:
    """An email address, or a local user whose mailbox the MTA knows (``root``)."""
    text_value = nonempty_text(node, "an email address or a local user").strip()
    if "@" in text_value or "<" in text_value:
        return check_address(node)
    if not _LOCAL_USER.fullmatch(text_value):
        raise Bad(f"{text_value!r} is neither an email address nor a user name "
                  "(give one recipient per item: to: [ops@example.com, root])")
    return text_value


def check_recipients(node: Node) -> tuple[str, ...]:
    """One recipient, or a list of them."""
    if not node.is_list:
        return (check_recipient(node),)
    if not node.value:
        raise Bad("the list of recipients is empty; to mail nobody, remove the alert")
    return tuple(
        inside(f"[{index}]", item, check_recipient) for index, item in enumerate(node.value)
    )


def check_program(node: Node) -> str:
    return nonempty_text(node, "the path of a sendmail program, such as /usr/sbin/sendmail")


def check_url(node: Node) -> str:
    """An http(s) URL. Messages never quote it: webhook URLs often carry a token."""
    url = nonempty_text(node, "an http:// or https:// URL").strip()
    problem = url_problem(url)
    if problem:
        raise Bad(problem)
    return url


def check_headers(node: Node) -> dict[str, str]:
    """Header names to values. Messages never quote a value: it is often a credential."""
    headers: dict[str, str] = {}
    for name, field in mapping(node, "a mapping of header names to values").items():
        if not _HEADER_NAME.fullmatch(name):
            raise Bad(f"{name!r} is not an HTTP header name", field, f".{name}")
        value = as_text(field.node)
        if value is None or "\n" in value or "\r" in value:
            got = "a line break" if value is not None else describe(field.node.value)
            raise Bad(f"expected the header's value on one line, got {got}", field.node, f".{name}")
        headers[name] = value
    return headers


def check_host(node: Node) -> str:
    host = nonempty_text(node, "a host name such as smtp.example.com").strip()
    if any(char.isspace() for char in host):
        raise Bad(f"{host!r} is not a host name")
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:  # not an IPv6 address
        raise Bad(f"give the port on its own: host: {name}, port: {port}")
    return host


def check_port(node: Node) -> int:
    if not is_port(node.value):
        raise Bad(f"expected a port number from 1 to 65535, got {describe(node.value)}")
    port: int = node.value
    return port


def check_address(node: Node) -> str:
    """``ops@example.com`` or ``Ops <ops@example.com>``."""
    address = nonempty_text(node, "an email address").strip()
    if "\n" in address or "\r" in address or not _EMAIL_ADDRESS.fullmatch(parseaddr(address)[1]):
        raise Bad(f"{address!r} is not an email address (expected name@example.com)")
    return address


def check_addresses(node: Node) -> tuple[str, ...]:
    """One address, or a list of them."""
    if not node.is_list:
        return (check_address(node),)
    if not node.value:
        raise Bad("the list of recipients is empty")
    return tuple(
        inside(f"[{index}]", item, check_address) for index, item in enumerate(node.value)
    )


_COMMAND_ALERT_CHECKS: dict[str, Check] = {
    "command": check_command,
    "timeout": check_positive_duration,
}
_WEBHOOK_CHECKS: dict[str, Check] = {
    "url": check_url,
    "timeout": check_positive_duration,
    "headers": check_headers,
}
_EMAIL_CHECKS: dict[str, Check] = {
    "host": check_host,
    "port": check_port,
    "starttls": check_bool,
    "username": nonempty_text,
    "password": text,
    "from": check_address,
    "to": check_addresses,
    "timeout": check_positive_duration,
}
_SENDMAIL_CHECKS: dict[str, Check] = {
    "to": check_recipients,
    "from": check_recipient,
    "path": check_program,
    "timeout": check_positive_duration,
}
