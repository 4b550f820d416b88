"""A systemd service unit for one jobfile, as ``schedctl systemd-unit`` prints it.

The unit must work for the user it names: its state file lies where systemd makes a
directory for that user (``StateDirectory=``, under ``/var/lib``), never under the home
of whoever printed the unit. Its hardening takes nothing that the jobs may need. A
service run as root runs commands as root, and ``user:`` jobs switch users, so it keeps
setuid (``sudo``, ``su``), a writable ``/usr``, ``/etc`` and ``/home``, and the system's
``/tmp``. A service run as another user cannot switch users nor write the system's files
anyway, so it gets the settings a packaged service carries.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from schedctl.jobfile.loader import is_state_url

#: Where systemd keeps the directories that ``StateDirectory=`` names.
SYSTEM_STATE_ROOT = PurePosixPath("/var/lib")

#: The directory under SYSTEM_STATE_ROOT for a jobfile that names no state.
STATE_DIRECTORY = "schedctl"

#: For a service run as root: nothing that takes a right from the jobs, said explicitly.
_ROOT_HARDENING = """\
# The jobs run as root, and user: jobs switch users: nothing below takes a right they may
# need. Setuid programs (sudo, su) keep working, and /usr, /etc, /home and /tmp are the
# system's own, writable as they are for root.
NoNewPrivileges=no
ProtectSystem=no
ProtectHome=no
PrivateTmp=no
LockPersonality=yes
"""

#: For a service run as another user, who can switch to no one and write no system file.
_USER_HARDENING = """\
# The jobs run as {user}, who needs no privileges: none can be gained, the system's files
# are read-only, and /tmp is the service's own.
NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectSystem=full
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
LockPersonality=yes
"""


def system_state_path(default_name: str) -> str:
    """The state file of a unit whose jobfile names none: in the service's state directory."""
    return str(SYSTEM_STATE_ROOT / STATE_DIRECTORY / default_name)


def runs_as_root(user: str | None) -> bool:
    return user in (None, "", "root", "0")


def render_unit(*, jobfile: str, state: str, executable: str, user: str | None = None) -> str:
    """The unit text: Type=notify with a watchdog, SIGHUP to reload, graceful stop, the
    state directory and the hardening for ``user`` (None: root)."""
    run = shlex.join([executable, "run", "--state", state, jobfile])
    check = shlex.join([executable, "validate", jobfile])
    user_line = f"User={user}\n" if user else ""
    hardening = _ROOT_HARDENING if runs_as_root(user) else _USER_HARDENING.format(user=user)
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
{state_lines(state, user)}{hardening}
[Install]
WantedBy=multi-user.target
"""


def state_lines(state: str, user: str | None = None) -> str:
    """``StateDirectory=`` for a state under /var/lib (systemd makes it, owned by the
    unit's user); for one elsewhere, ``ReadWritePaths=`` where the system's files are
    read-only to the service; nothing for a database."""
    if is_state_url(state):
        return ""
    directory = PurePosixPath(state).parent
    if directory.is_relative_to(SYSTEM_STATE_ROOT) and directory != SYSTEM_STATE_ROOT:
        return (f"StateDirectory={directory.relative_to(SYSTEM_STATE_ROOT)}\n"
                "StateDirectoryMode=0700\n")
    # "-": a missing directory is left to schedctl, which says so in its own words.
    return "" if runs_as_root(user) else f"ReadWritePaths=-{directory}\n"
