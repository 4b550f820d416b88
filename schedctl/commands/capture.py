"""Bounded capture of a command's output: a tail for the run's history, lines for the log.

Split from ``commands.py`` so that the process handling there stays readable. Memory
stays bounded by ``limit`` plus one partial line (at most :data:`MAX_LINE` bytes),
however much the command prints: a job that writes a gigabyte costs the scheduler
nothing but the time to read it. What reaches the log is bounded too, by ``log_limit``
per run: a job that prints 100 MB puts at most that much into the journal, then a note
of how much was left out (the history's tail is kept as always). Each logged line is
escaped (see ``escape.py``) and carries the ``output`` event, so no line a job prints
can pass for one of schedctl's own.
"""

from __future__ import annotations

import logging
import os
import select

from schedctl.commands.escape import escape_text

#: Longest single log record; a longer line is split so one runaway line cannot flood a record.
MAX_LINE = 4096
#: Bytes per read: the default pipe capacity, so a full pipe empties in one call.
READ_SIZE = 65536
#: Output logged per run by default (the ``log_limit`` key); the rest is counted, not logged.
DEFAULT_LOG_LIMIT = 1024 * 1024
#: The ``event`` field of a log record that holds a line of a job's output.
OUTPUT_EVENT = "output"


class OutputCapture:
    """Keeps the last ``limit`` bytes of a stream and logs its complete lines.

    ``logger`` may be None (capture only), or a logger's name, looked up at the first line
    (most runs print nothing, and a logger made per job id is a lock and a dict entry for
    nothing). Lines go out at INFO as ``<prefix><line>``,
    decoded as UTF-8 with replacement, so undecodable output never raises, and escaped;
    once ``log_limit`` bytes of lines were logged, the rest is only counted.
    """

    def __init__(
        self, *, limit: int, logger: logging.Logger | str | None, prefix: str,
        log_limit: int = DEFAULT_LOG_LIMIT, job_id: str | None = None,
    ) -> None:
        self._limit = limit
        self._logger = None if isinstance(logger, str) else logger
        self._logger_name = logger if isinstance(logger, str) else None
        self._prefix = prefix
        self._log_limit = log_limit
        self._fields = {"job_id": job_id, "event": OUTPUT_EVENT}
        self._tail = bytearray()
        self._partial = b""
        self.total = 0
        self.logged = 0  # bytes of output logged
        self.dropped = 0  # bytes of output not logged, past log_limit

    def feed(self, chunk: bytes) -> None:
        """Take one chunk read from the pipe."""
        self.total += len(chunk)
        self._keep(chunk)
        logger = self.logger
        if logger is not None and logger.isEnabledFor(logging.INFO):
            if self.dropped:  # past log_limit: counted, not even split into lines
                self.dropped += len(chunk)
            else:
                self._log_lines(chunk)

    def flush(self) -> None:
        """Log a last line that had no newline (the stream has ended), and how much of the
        output ``log_limit`` kept out of the log."""
        if self._partial and self.logger is not None:
            self._emit(self._partial)
        self._partial = b""
        if self.dropped and self.logger is not None:
            self._note(f"[... {human_size(self.dropped)} of output not logged (log_limit "
                       f"{human_size(self._log_limit)}); the history keeps the last "
                       f"{human_size(self._limit)} ...]")
            self.dropped = 0

    @property
    def logger(self) -> logging.Logger | None:
        """Where the lines go (None: nowhere), looked up by name on first use."""
        if self._logger is None and self._logger_name is not None:
            self._logger = logging.getLogger(self._logger_name)
        return self._logger

    def tail_text(self) -> str:
        """The kept tail, decoded, behind a marker that says how much was cut."""
        if self._limit <= 0:
            return ""  # no tail wanted: not even a marker
        data = bytes(self._tail)
        if self.total <= len(data):
            return data.decode("utf-8", "replace")
        data = _skip_continuation_bytes(data)
        marker = f"[... {human_size(self.total - len(data))} truncated ...]\n"
        return marker + data.decode("utf-8", "replace")

    def _keep(self, chunk: bytes) -> None:
        if self._limit <= 0:
            return
        if len(chunk) >= self._limit:
            self._tail[:] = chunk[-self._limit :]
            return
        self._tail += chunk
        excess = len(self._tail) - self._limit
        if excess > 0:
            # bytearray deletes a prefix in O(1) by moving its start, so this stays cheap.
            del self._tail[:excess]

    def _log_lines(self, chunk: bytes) -> None:
        data = self._partial + chunk
        start = 0
        newline = data.find(b"\n")
        while newline >= 0:
            self._emit(data[start:newline])
            start = newline + 1
            newline = data.find(b"\n", start)
        rest = data[start:]
        while len(rest) > MAX_LINE:
            cut = utf8_cut(rest, MAX_LINE)
            self._emit(rest[:cut])
            rest = rest[cut:]
        self._partial = rest

    def _emit(self, line: bytes) -> None:
        if self.dropped or self.logged + len(line) > self._log_limit:
            if not self.dropped:
                self._note(f"[... log_limit of {human_size(self._log_limit)} reached: the rest "
                           "of this run's output is counted, not logged ...]")
            self.dropped += len(line) + 1
            return
        self.logged += len(line) + 1
        while line:
            cut = utf8_cut(line, MAX_LINE)
            text = line[:cut].decode("utf-8", "replace").removesuffix("\r")
            self._note(escape_text(text, newlines=False))
            line = line[cut:]

    def _note(self, text: str) -> None:
        logger = self.logger
        assert logger is not None
        logger.info("%s%s", self._prefix, text, extra=self._fields)


def utf8_cut(data: bytes, limit: int) -> int:
    """An index at most ``limit`` that does not split a UTF-8 character, if it can help it."""
    if len(data) <= limit:
        return len(data)
    cut = limit
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut if data[cut] & 0xC0 != 0x80 else limit


def _skip_continuation_bytes(data: bytes) -> bytes:
    """Drop the remains of a character that the tail's cut went through."""
    start = 0
    while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
        start += 1
    return data[start:]


def human_size(size: int) -> str:
    """``1234567`` -> ``'1.2 MB'`` (decimal units, as the labels say)."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


class OutputPipe:
    """The read end of a job's output pipe, feeding an :class:`OutputCapture`.

    The runner polls :attr:`fd` together with its other descriptors while the job runs,
    and calls :meth:`read_for` to drain what is left once the job has exited.
    """

    def __init__(self, fd: int, capture: OutputCapture, *, writer: int | None = None) -> None:
        self.fd: int | None = fd
        self.capture = capture
        # Our copy of the write end, held while the command runs: its exit then ends the
        # wait in one wake-up (its pidfd), not two (the pipe's hang-up, then the pidfd).
        self._writer = writer
        # Made on first use: a job that exits quietly is read to its end by the runner's
        # own poll, and never needs this one.
        self._poller: select.poll | None = None

    def writer_done(self) -> None:
        """The command has exited: let go of the write end, so the pipe ends once the
        command's leftover processes, if any, let go of theirs."""
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None

    def read_chunk(self) -> bool:
        """Read once (the caller knows data or EOF is there); False, and closed, at EOF."""
        assert self.fd is not None
        chunk = os.read(self.fd, READ_SIZE)
        if chunk:
            self.capture.feed(chunk)
            return True
        self.close()
        return False

    def read_for(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for output; True if a chunk was read."""
        if self.fd is None:
            return False
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.fd, select.POLLIN)
        if not self._poller.poll(max(0, int(seconds * 1000) + 1)):
            return False
        return self.read_chunk()

    def close(self) -> None:
        """Stop reading; a line without its newline is still logged."""
        self.writer_done()
        if self.fd is not None:
            if self._poller is not None:
                self._poller.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
        self.capture.flush()
