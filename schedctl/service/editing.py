"""``schedctl edit``: change a jobfile the way ``crontab -e`` and ``visudo`` change theirs.

The editor works on a private copy (a directory of mode 0700, the file 0600), never on
the jobfile itself, so a half-saved file is never read by a running scheduler. A valid
copy replaces the jobfile in one ``rename``: the new file is written beside it, given
the old one's owner, group and mode before any content goes in, synced, and renamed
over it; a reader sees the old file or the new one, never a mix. A jobfile changed by
someone else during the edit is not overwritten. The running scheduler is then sent
SIGHUP; it would also notice the change on its own (live reload).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from schedctl.errors import SchedctlError
from schedctl.jobfile.loader import MAX_BYTES, JobfileError
from schedctl.service.filewatch import FileSignature
from schedctl.state.runlock import holder_pid, lock_path

__all__ = ["TEMPLATE", "EditError", "Original", "check_copy", "discard_copy", "editor_command",
           "make_copy", "read_original", "replace_file", "run_editor", "signal_scheduler"]

#: What a new jobfile starts as: valid, and a pointer to the reference.
TEMPLATE = (
    "# A schedctl jobfile: see schedctl-jobfile(5), or jobs.example.yaml.\n"
    "jobs: {}\n"
)
#: Tried in this order when neither VISUAL nor EDITOR is set, as crontab -e does.
FALLBACK_EDITORS = ("editor", "vi", "nano")


class EditError(SchedctlError):
    """The edit cannot go on, or cannot be saved; the message says what to do."""


@dataclass(frozen=True)
class Original:
    """The jobfile as it was when the edit began; ``signature`` None when it is new."""

    shown: str  # as the user named it, for messages
    path: str  # symbolic links resolved: the link stays, what it names is replaced
    data: bytes
    signature: FileSignature | None
    uid: int
    gid: int
    mode: int


def read_original(path: str) -> Original:
    """The jobfile to edit, or :data:`TEMPLATE` for one that does not exist yet (mode 0600)."""
    real = os.path.realpath(path)
    try:
        with open(real, "rb") as stream:
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise EditError(f"{path}: not a regular file")
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        if not os.path.isdir(os.path.dirname(real) or "."):
            raise EditError(f"{path}: its directory does not exist") from None
        return Original(path, real, TEMPLATE.encode(), None, os.geteuid(), os.getegid(), 0o600)
    except OSError as exc:
        raise EditError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise EditError(f"{path}: over 1 MiB, the most a jobfile may hold")
    signature = FileSignature(info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev)
    return Original(path, real, data, signature, info.st_uid, info.st_gid,
                    stat.S_IMODE(info.st_mode))


def make_copy(original: Original) -> str:
    """A private copy to edit, named like the jobfile so that the editor knows its syntax."""
    directory = tempfile.mkdtemp(prefix="schedctl-edit-")  # mode 0700
    copy = os.path.join(directory, os.path.basename(original.path))
    _write_new(copy, original.data, 0o600)
    return copy


def editor_command(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """``$VISUAL``, else ``$EDITOR`` (split as a shell would: ``code --wait`` works), else
    the first of :data:`FALLBACK_EDITORS` on the PATH."""
    for name in ("VISUAL", "EDITOR"):
        value = environ.get(name, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError as exc:  # an unclosed quote
                raise EditError(f"{name}={value!r} cannot be split as a shell would ({exc}); "
                                "fix its quoting") from None
    for program in FALLBACK_EDITORS:
        if shutil.which(program):
            return [program]
    raise EditError("no editor found: set VISUAL or EDITOR (export EDITOR=nano)")


def run_editor(command: list[str], copy: str) -> None:
    """Run the editor on ``copy`` on this terminal; EditError when it fails.

    Ctrl-C meanwhile is the editor's: here it is caught by a handler that does nothing
    (not ignored, which the editor would inherit), as crontab -e and visudo do.
    """
    previous = {signum: signal.signal(signum, _ignore) for signum in (signal.SIGINT,
                                                                      signal.SIGQUIT)}
    try:
        done = subprocess.run([*command, copy], check=False)
    except OSError as exc:
        raise EditError(f"cannot start the editor {command[0]!r}: {exc.strerror or exc}"
                        ) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if done.returncode != 0:
        raise EditError(f"the editor {command[0]!r} exited with status {done.returncode}")


def check_copy(copy: str, original: Original) -> list[str]:
    """Every problem of the edited copy, located under the jobfile's name (empty: valid).

    The copy is read as ``schedctl run`` reads the jobfile: a crontab stays a crontab
    (with a user column under ``/etc/cron.d``), and ``call:`` targets are imported from
    the jobfile's directory when :mod:`schedctl.trust` allows it.
    """
    from schedctl.crontab.build import load_any
    from schedctl.crontab.files import is_system_path
    from schedctl.service.startup import add_import_path, import_directory

    add_import_path(import_directory(original.path))  # only where the trust rule allows it
    try:
        load_any(copy, system=is_system_path(original.path) or None)
    except JobfileError as exc:
        return [str(replace(problem, filename=original.shown if problem.filename == copy
                            else problem.filename)) for problem in exc.problems]
    except SchedctlError as exc:
        return [str(exc).replace(copy, original.shown)]
    return []


def replace_file(original: Original, data: bytes) -> None:
    """Put ``data`` in place of the jobfile atomically, with its owner, group and mode.

    Refuses (EditError) when the jobfile changed since the edit began, or when its owner
    cannot be kept (only root can give a file away).
    """
    directory, name = os.path.split(original.path)
    temporary = os.path.join(directory, f".{name}.schedctl-{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise EditError(f"cannot write in {directory or '.'}: {exc.strerror or exc}") from None
    try:
        _own_like(fd, original)
        _write_all(fd, data)
        os.fsync(fd)
        if FileSignature.of(original.path) != original.signature:
            raise EditError(f"{original.shown} was changed by someone else during the edit")
        os.replace(temporary, original.path)
    except BaseException:
        os.unlink(temporary)
        raise
    finally:
        os.close(fd)
    _sync_directory(directory)


def signal_scheduler(state_path: str) -> int | None:
    """Send SIGHUP to the ``schedctl run`` that holds ``state_path``; its pid, or None
    when none runs. EditError when it runs but cannot be signalled.

    The pid comes from the lock file, which whoever made it wrote: in a sticky directory
    such as /tmp another user may have made it, written any pid in it and locked it. So
    only a process of the lock file's own owner is signalled (a scheduler writes its own
    pid in a lock file it creates); root would otherwise send SIGHUP where told.
    """
    pid = holder_pid(state_path)
    if pid is None or pid <= 0:
        return None
    lock = lock_path(state_path)
    try:
        lock_owner, process_owner = os.lstat(lock).st_uid, os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None
    if process_owner != lock_owner:
        raise EditError(f"{lock} names pid {pid}, a process of uid {process_owner}, but "
                        f"belongs to uid {lock_owner}: not signalled, since a scheduler "
                        "writes its own pid there (look into who made that file); a "
                        "running scheduler reloads the file within 2 seconds on its own")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    except PermissionError:
        raise EditError(f"the scheduler (pid {pid}) runs as another user and cannot be "
                        "signalled; it reloads the file within 2 seconds on its own") from None
    return pid


def _own_like(fd: int, original: Original) -> None:
    """Give the new file the old one's owner and mode, before it holds anything."""
    if (original.uid, original.gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, original.uid, original.gid)
        except PermissionError:
            raise EditError(f"{original.shown} belongs to uid {original.uid} (gid "
                            f"{original.gid}), and only root can keep that owner: edit it as "
                            "root or as its owner") from None
    os.fchmod(fd, original.mode)


def _write_new(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable: a crash right after must not bring the old file back."""
    fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ignore(signum: int, frame: object) -> None:
    """A handler that does nothing: the signal was meant for the editor."""


def discard_copy(copy: str) -> None:
    """Remove the copy and its private directory, once the edit is saved or dropped."""
    shutil.rmtree(Path(copy).parent, ignore_errors=True)
