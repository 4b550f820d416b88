"""``schedctl run``: the long-running service around one scheduler.

Startup checks, the reload loop, signals, sd_notify, the run log and alert rules, and the
control verbs that the CLI applies to a running scheduler's store. It may import every
product package below it; never the CLI.
"""
