"""Noticing that the jobfile changed on disk, so ``schedctl run`` reloads it without a SIGHUP.

cron and supercronic users edit the file and expect the change to take effect. The
control thread polls :func:`os.stat` every :data:`POLL_SECONDS`: a change in mtime, size,
inode or device (an editor or ``kubectl`` that writes a new file and renames it over the
old one changes the inode; a symbolic link is followed to what it names) counts once it
has held for one poll, so that a file caught half-written by an editor is not loaded.
A file that disappears is reported once and the running jobs are kept; it is loaded
again when it comes back. Polling needs nothing from the kernel or the file system and
costs one ``stat`` a poll.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

__all__ = ["POLL_SECONDS", "FileSignature", "FileWatch"]

#: How often the file is looked at; a change is acted on after two equal looks (0.5-1 s).
POLL_SECONDS = 0.5

_logger = logging.getLogger("schedctl.run")


@dataclass(frozen=True)
class FileSignature:
    """What ``stat`` says of a file that changes whenever its content can have changed."""

    mtime_ns: int
    size: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: str) -> FileSignature | None:
        """The file's signature now, or None when it cannot be looked at (gone, say)."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        return cls(info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev)

    def differences(self, other: FileSignature) -> str:
        """What changed from ``self`` to ``other``, in words for the log."""
        if (self.inode, self.device) != (other.inode, other.device):
            return "replaced by a new file"
        if self.size != other.size:
            return f"modified, {self.size} -> {other.size} bytes"
        return "modified"


class FileWatch:
    """Polls one file; :meth:`check` says when a reload is due and why.

    Times are ``time.monotonic()`` seconds handed in by the caller, so that tests can
    drive it without waiting. :meth:`loaded` records what a reload read, whoever asked
    for it: a SIGHUP that loaded the new file leaves nothing for the watch to do.
    """

    def __init__(self, path: str, loaded: FileSignature | None, now: float) -> None:
        self.path = path
        self._loaded = loaded
        self._pending: FileSignature | None = None
        self._missing_reported = False
        self.next_poll = now + POLL_SECONDS

    def loaded(self, signature: FileSignature | None) -> None:
        """A reload read the file as ``signature`` (taken before reading it)."""
        self._loaded = signature
        self._pending = None

    def check(self, now: float) -> str | None:
        """If a poll is due, poll; return why to reload (``"a change to jobs.yaml
        (modified)"``) once a change has held for one poll, else None."""
        if now < self.next_poll:
            return None
        self.next_poll = now + POLL_SECONDS
        current = FileSignature.of(self.path)
        if current is None:
            self._report_missing()
            self._pending = None
            return None
        self._missing_reported = False
        if current == self._loaded:
            self._pending = None
            return None
        if current != self._pending:  # new, or still changing: look again next time
            self._pending = current
            return None
        how = self._loaded.differences(current) if self._loaded else "created again"
        return f"a change to {self.path} ({how})"

    def _report_missing(self) -> None:
        if not self._missing_reported:
            _logger.warning("%s is gone; still running the previous jobs (it is read again "
                            "when it comes back)", self.path)
            self._missing_reported = True
