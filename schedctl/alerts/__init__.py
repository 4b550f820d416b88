"""Alerts: what to send when a run fails or recovers, and the transports that send it.

Alert specs, the dispatcher thread and one module per transport (command, webhook,
email). It may import :mod:`schedctl.commands.runner` (an alert command is a command) and the
engine basics; never the jobfile, the state, the service or the CLI.
"""
