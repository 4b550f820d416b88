"""``schedctl edit`` tells the running scheduler to reload with SIGHUP, to the pid its lock
file names. A state file may sit in a sticky directory such as /tmp, where another user
can make that lock file first, write any pid in it and hold its lock: root then sent
SIGHUP to a process of the other user's choosing (most programs die of it; pid 1
reloads). Only a process of the lock file's own owner is signalled now.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

from schedctl.jobstores.sqlite import SQLiteJobStore
from tests.cli.helpers import wait_until
from tests.security.conftest import make_dir, needs_root, write
from tests.security.test_races import as_user

pytestmark = needs_root

#: The editor: appends a comment to the file it is given, and exits 0.
EDITOR = "sh -c 'echo \"# edited\" >> \"$0\"'"

HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, sys.argv[2].encode() + b"\\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
""")


def test_edit_never_signals_a_pid_another_users_lock_file_names(users, site, schedctl,
                                                                scheduler, cli_env):
    spool = make_dir(site / "spool", 0o1777)
    state = spool / "state.db"
    SQLiteJobStore(path=state).shutdown()  # a state file without a scheduler, as after a stop
    jobfile = write(make_dir(site / "etc", 0o755) / "jobs.yaml", f"""
        state: {state}
        jobs:
          tick: {{command: echo tick, interval: 1h}}
    """)
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    holder = as_user(users.attacker, ["python3", "-c", HOLDER, f"{state}.lock", str(victim.pid)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"

        edited = schedctl_edit(schedctl, cli_env, jobfile)

        assert edited.returncode == 0  # saved; the refusal to signal is a warning
        assert (f"{state}.lock names pid {victim.pid}, a process of uid 0, but belongs to uid "
                f"{users.attacker.uid}: not signalled") in edited.stderr
        assert victim.poll() is None  # alive: no SIGHUP reached it
        assert jobfile.read_text().endswith("# edited\n")  # the edit itself is saved
    finally:
        for process in (holder, victim):
            process.kill()
            process.wait()

    os.unlink(f"{state}.lock")  # as the message says: look into it, and remove it
    daemon = scheduler(jobfile)
    edited = schedctl_edit(schedctl, cli_env, jobfile)
    assert edited.returncode == 0, edited.stderr
    assert f"the scheduler (pid {daemon.pid}) was told to reload it" in edited.stdout
    daemon.wait_for_log("asked by SIGHUP")


def schedctl_edit(schedctl, cli_env, jobfile):
    cli_env["EDITOR"] = EDITOR
    return schedctl("edit", "--no-retry", jobfile)


def test_the_holder_is_gone_before_anything_is_signalled(site):
    """No process at the pid: nothing to signal, and no error."""
    from schedctl.service.editing import signal_scheduler

    state = make_dir(site / "spool", 0o1777) / "state.db"
    SQLiteJobStore(path=state).shutdown()
    gone = subprocess.Popen(["true"])
    gone.wait()
    holder = subprocess.Popen(["python3", "-c", HOLDER, f"{state}.lock", str(gone.pid)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        wait_until(lambda: not os.path.exists(f"/proc/{gone.pid}"), 5, what="the pid to go")
        assert signal_scheduler(str(state)) is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
