"""A systemd service unit for one jobfile, as ``schedctl systemd-unit`` prints it."""

from __future__ import annotations

import shlex


def render_unit(*, jobfile: str, state: str, executable: str, user: str | None = None) -> str:
    """The unit text: Type=notify with a watchdog, SIGHUP to reload, graceful stop."""
    run = shlex.join([executable, "run", "--state", state, jobfile])
    check = shlex.join([executable, "validate", jobfile])
    user_line = f"User={user}\n" if user else ""
    return f"""[Unit]
Description=schedctl job scheduler ({jobfile})
Documentation=man:schedctl(1) man:schedctl-jobfile(5)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
{user_line}ExecStartPre={check}
ExecStart={run}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
TimeoutStopSec=60
Restart=on-failure
RestartSec=5
WatchdogSec=60

[Install]
WantedBy=multi-user.target
"""
