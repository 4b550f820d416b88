"""Alerts: what to send when a run fails, recovers or prints, and the transports that send it.

Alert specs and context, the dispatcher thread and one module per transport (command,
webhook, email, sendmail): a new transport is a subclass of
:class:`~schedctl.alerts.spec.AlertSpec` in a file of its own, imported below. It may import :mod:`schedctl.commands` (an alert
command is a command) and the engine basics; never the jobfile, the state, the service or
the CLI.
"""

# Importing the transports registers them with alert_from_dict, which lists them in this order.
# isort: off
from schedctl.alerts import command as _command  # noqa: F401
from schedctl.alerts import webhook as _webhook  # noqa: F401
from schedctl.alerts import email as _email  # noqa: F401
from schedctl.alerts import sendmail as _sendmail  # noqa: F401
# isort: on
