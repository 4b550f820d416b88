"""Run one command the way a production cron should, and say exactly how it ended.

Every run gets its own session and process group, so a timeout or a shutdown can
signal the whole tree (SIGTERM, then SIGKILL after ``kill_grace``). Output is read in
the waiting thread with ``poll`` on the pipe and on a pidfd (no thread per run, no
busy wait), kept as a bounded tail and logged line by line; memory stays flat.

Decisions worth knowing:

* stdout and stderr share one pipe (``stderr=STDOUT``): the log and the tail keep
  the order in which the job wrote them, at the price of not telling them apart.
* A run ends when its direct child exits, not at end-of-file: a job that closes its
  stdout keeps its run open until it exits. Output left in the pipe is drained for at
  most ``_DRAIN_IDLE`` seconds of silence (``_DRAIN_MAX`` in all), because a process
  the job left behind may hold the pipe open forever.
* Processes a job leaves behind when it exits normally (``daemon &``) are left
  running, as cron does: starting a background service from a job is legitimate. A
  warning names them when they still hold the output pipe; once we stop reading, their
  writes to it fail with SIGPIPE. After a timeout or an interruption nothing is left:
  the group gets until the end of the grace period, then SIGKILL.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import select
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from schedctl._output_capture import OutputCapture, OutputPipe
from schedctl.clock import Clock, SystemClock
from schedctl.errors import SchedctlError

__all__ = [
    "DEFAULT_REGISTRY",
    "CommandFailedError",
    "CommandResult",
    "CommandSpec",
    "CommandSpecError",
    "CommandStartError",
    "EnvFileError",
    "ProcessRegistry",
    "RunningCommand",
    "execute_command",
    "parse_env_file",
    "run_command",
]

OutputMode = Literal["log", "inherit", "discard"]
Outcome = Literal["success", "failed", "timeout", "killed", "not_started", "interrupted"]
StopReason = Literal["timeout", "interrupted"]

_log = logging.getLogger(__name__)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DRAIN_IDLE = 0.2
_DRAIN_MAX = 1.0
_GROUP_POLL = 0.02
_KILL_SETTLE = 1.0
_MAX_BACKOFF = 0.05
#: None where the kernel or a seccomp filter lacks pidfd_open (Linux < 5.3, old Docker).
_pidfd_open = getattr(os, "pidfd_open", None)


class CommandSpecError(SchedctlError, ValueError):
    """A command's settings are invalid (bad values, unknown keys)."""


class EnvFileError(SchedctlError):
    """An ``env_file`` is missing or malformed. Messages never quote a value."""


class CommandStartError(SchedctlError):
    """The command could not be started; ``result`` is its ``not_started`` record."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(result.error or "command not started")
        self.result = result


class CommandFailedError(SchedctlError):
    """A run did not succeed. Raised so that the engine reports EVENT_JOB_ERROR."""

    def __init__(self, job_id: str, result: CommandResult) -> None:
        super().__init__(f"job {job_id!r}: {result.error or result.describe()}")
        self.job_id = job_id
        self.result = result


@dataclass(frozen=True)
class CommandSpec:
    """What to run and how. A ``str`` runs under ``shell -c``; a tuple is an argv, no shell."""

    command: str | tuple[str, ...]
    shell: str = "/bin/sh"
    env: Mapping[str, str] = field(default_factory=dict)
    env_file: str | None = None
    cwd: str | None = None
    timeout: float | None = None
    kill_grace: float = 10.0
    output: OutputMode = "log"
    output_limit: int = 65536

    def __post_init__(self) -> None:
        if isinstance(self.command, list):
            object.__setattr__(self, "command", tuple(self.command))
        # A private copy: the caller's dict can change later without changing the spec.
        object.__setattr__(self, "env", dict(self.env))
        problems = list(_spec_problems(self))
        if problems:
            raise CommandSpecError("; ".join(problems))

    def argv(self) -> list[str]:
        """The argument vector handed to exec."""
        if isinstance(self.command, str):
            return [self.shell, "-c", self.command]
        return list(self.command)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form holding ``command`` and every setting that differs from its default."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            if f.name == "command" or value != default:
                data[f.name] = list(value) if isinstance(value, tuple) else value
        if "env" in data:
            data["env"] = dict(data["env"])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandSpec:
        """The inverse of :meth:`to_dict`; unknown keys are errors with a suggestion."""
        known = [f.name for f in fields(cls)]
        problems = [_unknown_key(key, known) for key in data if key not in known]
        if "command" not in data:
            problems.insert(0, "command: required")
        if problems:
            raise CommandSpecError("; ".join(problems))
        return cls(**dict(data))


def _spec_problems(spec: CommandSpec) -> Iterator[str]:
    command = spec.command
    if isinstance(command, str):
        if not command.strip():
            yield "command: must not be empty"
    elif not command or not all(isinstance(arg, str) for arg in command):
        yield "command: must be a string or a non-empty list of strings"
    if spec.timeout is not None and not (_is_number(spec.timeout) and spec.timeout > 0):
        yield f"timeout: must be a positive number of seconds, got {spec.timeout!r}"
    if not (_is_number(spec.kill_grace) and spec.kill_grace >= 0):
        yield f"kill_grace: must be zero or more seconds, got {spec.kill_grace!r}"
    if spec.output not in get_args(OutputMode):
        yield f"output: must be one of log, inherit, discard; got {spec.output!r}"
    if not (
        _is_number(spec.output_limit)
        and isinstance(spec.output_limit, int)
        and spec.output_limit >= 0
    ):
        yield f"output_limit: must be a number of bytes >= 0, got {spec.output_limit!r}"
    # Names only: values may be secrets and must never reach a message.
    for name, value in spec.env.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            yield f"env: {name!r} is not a valid variable name"
        elif not isinstance(value, str) or "\0" in value:
            yield f"env: the value of {name} must be a string without NUL characters"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{key}: unknown setting{hint}"


@dataclass(frozen=True)
class CommandResult:
    """How one run ended; everything the run history and alerts need, JSON-able via to_dict."""

    outcome: Outcome
    exit_code: int | None
    signal: int | None
    started_at: datetime | None
    finished_at: datetime
    duration: float
    output_tail: str = ""
    error: str | None = None
    pid: int | None = None
    timeout: float | None = None
    attempt: int = 1  # which try this was, when the job retries failures

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    def describe(self) -> str:
        """One line for a table or a log: ``exit 0 in 1.2s``, ``killed by SIGKILL after 3s``."""
        took = format_seconds(self.duration)
        if self.outcome == "not_started":
            return "not started"
        if self.outcome == "timeout":
            return f"timed out after {format_seconds(self.timeout or self.duration)}"
        if self.outcome == "killed":
            return f"killed by {signal_name(self.signal)} after {took}"
        if self.outcome == "interrupted":
            return f"interrupted after {took}"
        return f"exit {self.exit_code} in {took}"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandResult:
        values = dict(data)
        for key in ("started_at", "finished_at"):
            if values.get(key) is not None:
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


def format_seconds(seconds: float) -> str:
    """``0.25`` -> ``250ms``, ``5.0`` -> ``5s``, ``12.34`` -> ``12.3s``, ``125`` -> ``2m05s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}".removesuffix(".0") + "s"


def signal_name(signum: int | None) -> str:
    try:
        return signal.Signals(signum or 0).name
    except ValueError:
        return f"signal {signum}"


def parse_env_file(path: str) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines: ``#`` comments, blank lines, ``export`` prefixes, quotes.

    Nothing is interpolated. Read at every run, so an edited secret takes effect
    without reloading the scheduler.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"env_file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise EnvFileError(f"env_file {path!r} cannot be read: {reason}") from None
    env: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            pair = _parse_env_line(line)
        except ValueError as exc:
            raise EnvFileError(f"env_file {path!r} line {lineno}: {exc}") from None
        if pair is not None:
            env[pair[0]] = pair[1]
    return env


def _parse_env_line(line: str) -> tuple[str, str] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("export "):
        text = text[len("export ") :].lstrip()
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not _ENV_NAME.fullmatch(name):
        # Never echo the line: a malformed line may well be a pasted secret.
        raise ValueError("expected KEY=VALUE, KEY made of letters, digits and _")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return name, value


def build_env(
    spec: CommandSpec, job_id: str, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Inherited environment < env_file < env < extra_env < SCHEDCTL_JOB_ID."""
    env = dict(os.environ)
    if spec.env_file is not None:
        env.update(parse_env_file(spec.env_file))
    env.update(spec.env)
    env.update(extra_env or {})
    env["SCHEDCTL_JOB_ID"] = job_id
    return env


def _start_error(exc: OSError, spec: CommandSpec) -> str:
    """Turn what Popen raised into the sentence an operator needs."""
    argv0 = spec.argv()[0]
    cwd_failed = spec.cwd is not None and exc.filename in (spec.cwd, os.fsencode(spec.cwd))
    if cwd_failed and isinstance(exc, FileNotFoundError):
        return f"working directory does not exist: {spec.cwd!r}"
    if cwd_failed and isinstance(exc, NotADirectoryError):
        return f"working directory is not a directory: {spec.cwd!r}"
    if cwd_failed and isinstance(exc, PermissionError):
        return f"permission denied: cannot enter working directory {spec.cwd!r}"
    what = "shell" if isinstance(spec.command, str) else "command"
    if (
        isinstance(exc, FileNotFoundError)
        and os.sep in argv0
        and os.path.exists(os.path.join(spec.cwd or "", argv0))
    ):
        return f"interpreter not found: the #! line of {argv0!r} names a missing program"
    if isinstance(exc, FileNotFoundError):
        return f"{what} not found: {argv0!r}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {argv0!r} is not executable"
    return f"cannot start {argv0!r}: {exc.strerror or exc}"


def _not_started(error: str, started_mono: float, clock: Clock) -> CommandResult:
    return CommandResult(
        outcome="not_started",
        exit_code=None,
        signal=None,
        started_at=None,
        finished_at=clock.now(),
        duration=time.monotonic() - started_mono,
        error=error,
    )


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or a member changed its credentials: nothing more we can do


def live_group_members(pgid: int) -> list[int]:
    """Pids of the group's processes that still run (zombies excluded: they cannot be killed)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # the common case, without reading /proc
    except PermissionError:
        pass
    return [
        int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _live_pgrp(e.name) == pgid
    ]


def _live_pgrp(pid: str) -> int | None:
    """The process group of a live process, from /proc; None for zombies and the gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    state, _ppid, pgrp = stat[stat.rfind(b")") + 2 :].split()[:3]
    return None if state in (b"Z", b"X", b"x") else int(pgrp)


class RunningCommand:
    """One started process group, waited for by exactly one thread at a time.

    ``wait`` pumps the output and enforces the timeout; ``terminate`` and ``kill`` may
    be called from any thread and only ask: the waiting thread does the SIGKILL when
    the grace ends. Whoever calls ``wait`` next does it if nobody is waiting yet.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        *,
        spec: CommandSpec,
        job_id: str,
        started: tuple[datetime, float],
        pipe: OutputPipe | None,
        clock: Clock,
    ) -> None:
        self.spec, self.job_id, self.pid, self.pgid = spec, job_id, proc.pid, proc.pid
        self._proc, self._pipe, self._clock = proc, pipe, clock
        self._started_at, self._started_mono = started
        self._deadline = None if spec.timeout is None else self._started_mono + spec.timeout
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._exit_fd = _open_exit_fd(proc.pid)
        self._backoff = 0.001
        self._exited = self._reaped = self._sigterm_sent = self._sigkill_sent = False
        self._stop_reason: StopReason | None = None
        self._kill_at: float | None = None
        self._grace = 0.0  # what the error message reports: SIGKILL came this long after SIGTERM
        self._result: CommandResult | None = None

    @classmethod
    def start(
        cls,
        spec: CommandSpec,
        *,
        job_id: str,
        extra_env: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
    ) -> RunningCommand:
        """Start ``spec`` in a new session; raises CommandStartError (with a result) if it can't.

        ``logger`` receives the output lines in ``log`` mode (default
        ``schedctl.job.<job_id>``).
        """
        clock = clock or SystemClock()
        started_mono = time.monotonic()
        try:
            env = build_env(spec, job_id, extra_env)
        except EnvFileError as exc:
            raise CommandStartError(_not_started(str(exc), started_mono, clock)) from None
        read_fd, write_fd = os.pipe() if spec.output == "log" else (None, None)
        started_at = clock.now()
        try:
            proc = _popen(spec, env, write_fd)
        except (OSError, ValueError) as exc:
            if read_fd is not None:
                os.close(read_fd)
            error = (
                _start_error(exc, spec) if isinstance(exc, OSError) else f"invalid command: {exc}"
            )
            raise CommandStartError(_not_started(error, started_mono, clock)) from None
        finally:
            if write_fd is not None:
                os.close(write_fd)
        _log_start(spec, job_id, proc.pid)
        pipe = None
        if read_fd is not None:
            logger = logger or logging.getLogger(f"schedctl.job.{job_id}")
            capture = OutputCapture(limit=spec.output_limit, prefix=f"[{job_id}] ", logger=logger)
            pipe = OutputPipe(read_fd, capture)
        return cls(
            proc,
            spec=spec,
            job_id=job_id,
            started=(started_at, started_mono),
            pipe=pipe,
            clock=clock,
        )

    @property
    def result(self) -> CommandResult | None:
        """The outcome once the run is over, else None."""
        return self._result

    def wait(self, timeout: float | None = None) -> CommandResult:
        """Run the command to its end and return how it ended.

        With ``timeout`` (seconds of *waiting*, unrelated to the spec's timeout), raise
        TimeoutError if it is still running then; calling ``wait`` again resumes.
        """
        until = None if timeout is None else time.monotonic() + timeout
        if not self._pump_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise TimeoutError(f"job {self.job_id!r} (pid {self.pid}) is still running")
        try:
            if self._result is None:
                self._pump(until)
        finally:
            self._pump_lock.release()
        if self._result is None:
            raise TimeoutError(f"job {self.job_id!r} (pid {self.pid}) is still running")
        return self._result

    def terminate(self, grace: float = 10.0) -> None:
        """SIGTERM the whole group now, SIGKILL it after ``grace``; idempotent, any thread.

        A second call can only shorten the grace. Once the run is over this does nothing,
        so a recycled pid can never be signalled.
        """
        self._stop("interrupted", grace)

    def kill(self) -> None:
        """SIGKILL the whole group now."""
        self._stop("interrupted", 0.0)

    def _stop(self, reason: StopReason, grace: float) -> None:
        with self._lock:
            if self._reaped:
                return
            if self._stop_reason is None:
                self._stop_reason = reason
                if grace > 0:  # kill() means now: a SIGTERM first would only race the SIGKILL
                    _signal_group(self.pgid, signal.SIGTERM)
                    self._sigterm_sent = True
            now = time.monotonic()
            if self._kill_at is None:
                self._kill_at, self._grace = now + grace, grace
            elif now + grace < self._kill_at:
                self._grace -= self._kill_at - (now + grace)
                self._kill_at = now + grace
            if grace <= 0 and not self._sigkill_sent:
                _signal_group(self.pgid, signal.SIGKILL)
                self._sigkill_sent = True
            os.eventfd_write(self._wake_fd, 1)

    # -- the waiting thread ----------------------------------------------------------------

    def _pump(self, until: float | None) -> None:
        pipe_fd = self._pipe.fd if self._pipe is not None else None
        poller = self._poller(pipe_fd, self._wake_fd, self._exit_fd)
        while not self._exited:
            now = time.monotonic()
            self._enforce_deadlines(now)
            if until is not None and now >= until:
                return
            for fd, _ in poller.poll(self._poll_ms(now, until)):
                self._on_ready(fd, poller)
            if self._exit_fd is None:
                self._exited = _has_exited(self.pid)
        self._finish()

    @staticmethod
    def _poller(*fds: int | None) -> select.poll:
        poller = select.poll()
        for fd in fds:
            if fd is not None:
                poller.register(fd, select.POLLIN)
        return poller

    def _enforce_deadlines(self, now: float) -> None:
        if self._stop_reason is None and self._deadline is not None and now >= self._deadline:
            self._stop("timeout", self.spec.kill_grace)
        with self._lock:
            if self._kill_at is not None and now >= self._kill_at and not self._sigkill_sent:
                _signal_group(self.pgid, signal.SIGKILL)
                self._sigkill_sent = True

    def _poll_ms(self, now: float, until: float | None) -> int | None:
        """Milliseconds until the next thing the loop must do itself (None: no such thing)."""
        wakeups = [until]
        if self._stop_reason is None:
            wakeups.append(self._deadline)
        if not self._sigkill_sent:
            wakeups.append(self._kill_at)
        if self._exit_fd is None:  # no pidfd: look at the child with a growing interval
            wakeups.append(now + self._backoff)
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        due = [w for w in wakeups if w is not None]
        return None if not due else max(0, int((min(due) - now) * 1000) + 1)

    def _on_ready(self, fd: int, poller: select.poll) -> None:
        if self._pipe is not None and fd == self._pipe.fd:
            if not self._pipe.read_chunk():
                poller.unregister(fd)
        elif fd == self._exit_fd:
            self._exited = True
        elif fd == self._wake_fd:
            try:
                os.eventfd_read(self._wake_fd)
            except BlockingIOError:
                pass

    def _finish(self) -> None:
        with self._lock:
            returncode = self._proc.wait()  # instant: the child has exited
            self._reaped = True
        duration = time.monotonic() - self._started_mono
        finished_at = self._clock.now()
        if self._stop_reason is not None:
            self._end_group()
        if self._pipe is not None:
            self._drain(self._pipe)
        os.close(self._wake_fd)
        if self._exit_fd is not None:
            os.close(self._exit_fd)
        self._result = self._make_result(returncode, duration, finished_at)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("[%s] %s", self.job_id, self._result.describe())

    def _end_group(self) -> None:
        """After a stop, give the rest of the group until the grace ends, then SIGKILL it."""
        assert self._kill_at is not None
        # SIGKILL is delivered asynchronously: keep looking (a bounded while) until the
        # group is really gone, so that a returned result means "nothing left running".
        give_up = max(self._kill_at, time.monotonic()) + _KILL_SETTLE
        while live_group_members(self.pgid):
            now = time.monotonic()
            if now >= give_up:
                _log.warning("[%s] processes of group %d survive SIGKILL", self.job_id, self.pgid)
                return
            if now >= self._kill_at:
                _signal_group(self.pgid, signal.SIGKILL)
                self._sigkill_sent = True
            self._pause(
                min(_GROUP_POLL, self._kill_at - now) if now < self._kill_at else _GROUP_POLL
            )

    def _pause(self, seconds: float) -> None:
        """Wait a little, reading output meanwhile so that a full pipe blocks nobody."""
        if self._pipe is not None and self._pipe.fd is not None:
            self._pipe.read_for(seconds)
        else:
            time.sleep(seconds)

    def _drain(self, pipe: OutputPipe) -> None:
        """Read what is left, but never wait on a pipe that a leftover process holds open."""
        start = quiet_since = time.monotonic()
        while pipe.fd is not None:
            now = time.monotonic()
            stop_at = min(quiet_since + _DRAIN_IDLE, start + _DRAIN_MAX)
            if now >= stop_at:
                pipe.close()
                self._warn_pipe_held()
            elif pipe.read_for(stop_at - now):
                quiet_since = time.monotonic()
        pipe.close()  # logs a last line without its newline

    def _warn_pipe_held(self) -> None:
        leftovers = live_group_members(self.pgid)
        _log.warning(
            "[%s] exited, but its output pipe is still held open by a process it left behind "
            "(pids in its group: %s); stopped reading, and that process keeps running",
            self.job_id,
            ", ".join(map(str, leftovers)) or "none, it left the group",
        )

    def _make_result(
        self, returncode: int, duration: float, finished_at: datetime
    ) -> CommandResult:
        exit_code = returncode if returncode >= 0 else None
        signum = -returncode if returncode < 0 else None
        outcome: Outcome
        if self._stop_reason is not None:
            outcome = self._stop_reason
        elif signum is not None:
            outcome = "killed"
        else:
            outcome = "success" if returncode == 0 else "failed"
        result = CommandResult(
            outcome=outcome,
            exit_code=exit_code,
            signal=signum,
            started_at=self._started_at,
            finished_at=finished_at,
            duration=duration,
            pid=self.pid,
            timeout=self.spec.timeout,
            output_tail=self._pipe.capture.tail_text() if self._pipe is not None else "",
        )
        if outcome == "success":
            return result
        return _with_error(result, self.spec, signals=self._signals_sent())

    def _signals_sent(self) -> str:
        """``sent SIGTERM``, ``sent SIGKILL`` or ``sent SIGTERM, then SIGKILL after 10s``."""
        if not self._sigterm_sent:
            return "sent SIGKILL"
        if not self._sigkill_sent:
            return "sent SIGTERM"
        return f"sent SIGTERM, then SIGKILL after {format_seconds(max(self._grace, 0.0))}"


def _with_error(result: CommandResult, spec: CommandSpec, *, signals: str) -> CommandResult:
    """Fill in the sentence an alert or the history shows for a run that did not succeed."""
    took = format_seconds(result.duration)
    error = None
    if result.outcome == "timeout":
        error = f"timed out after {format_seconds(spec.timeout or 0)}; {signals}"
    elif result.outcome == "interrupted":
        error = f"interrupted by the scheduler after {took}; {signals}"
    elif result.outcome == "killed":
        error = f"killed by {signal_name(result.signal)} after {took}"
    elif result.outcome == "failed" and isinstance(spec.command, str):
        hint = {126: "command not executable", 127: "command not found"}.get(result.exit_code or 0)
        if hint:
            error = f"exit {result.exit_code} in {took}: {hint} (reported by {spec.shell})"
    return result if error is None else _replace(result, error=error)


def _replace(result: CommandResult, **changes: Any) -> CommandResult:
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    values.update(changes)
    return CommandResult(**values)


def _popen(spec: CommandSpec, env: dict[str, str], out_fd: int | None) -> subprocess.Popen[bytes]:
    target: int | None = out_fd
    if spec.output == "discard":
        target = subprocess.DEVNULL
    return subprocess.Popen(
        spec.argv(),
        stdin=subprocess.DEVNULL,
        stdout=target,
        stderr=subprocess.STDOUT if spec.output != "inherit" else None,
        cwd=spec.cwd,
        env=env,
        start_new_session=True,
        close_fds=True,
    )


def _log_start(spec: CommandSpec, job_id: str, pid: int) -> None:
    if _log.isEnabledFor(logging.DEBUG):
        names = ", ".join(sorted(spec.env)) or "none"
        _log.debug(
            "[%s] started pid %d: %s (env set: %s)", job_id, pid, shlex.join(spec.argv()), names
        )


def _open_exit_fd(pid: int) -> int | None:
    """A pidfd that polls readable when ``pid`` exits, or None if the system has none."""
    if _pidfd_open is None:
        return None
    try:
        return int(_pidfd_open(pid))
    except OSError:
        return None


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its pid cannot be reused yet)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class ProcessRegistry:
    """The commands running now, so shutdown and ``overlap: replace`` can stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[RunningCommand] = set()

    def add(self, command: RunningCommand) -> None:
        with self._lock:
            self._running.add(command)

    def discard(self, command: RunningCommand) -> None:
        with self._lock:
            self._running.discard(command)

    def running(self, job_id: str | None = None) -> list[RunningCommand]:
        with self._lock:
            return [c for c in self._running if job_id is None or c.job_id == job_id]

    def terminate_all(
        self, grace: float | None = None, *, wait: bool = True
    ) -> list[RunningCommand]:
        """Stop every command (SIGTERM, SIGKILL after ``grace``, by default each command's
        own ``kill_grace``); return those still running."""
        return _terminate(self.running(), grace, wait)

    def terminate_job(
        self, job_id: str, grace: float = 10.0, *, wait: bool = True
    ) -> list[RunningCommand]:
        """Stop the running instances of one job; return those still running."""
        return _terminate(self.running(job_id), grace, wait)


def _terminate(
    commands: list[RunningCommand], grace: float | None, wait: bool
) -> list[RunningCommand]:
    graces = [command.spec.kill_grace if grace is None else grace for command in commands]
    for command, command_grace in zip(commands, graces):
        command.terminate(command_grace)
    if not wait:
        return [c for c in commands if c.result is None]
    # Waiting also enforces the SIGKILL for commands that nobody else is waiting on.
    deadline = time.monotonic() + max(graces, default=0.0) + _DRAIN_MAX + 1.0
    survivors = []
    for command in commands:
        try:
            command.wait(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            survivors.append(command)
    return survivors


#: Where :func:`execute_command` registers its runs, for the scheduler to stop them.
DEFAULT_REGISTRY = ProcessRegistry()


def run_command(
    spec: CommandSpec,
    *,
    job_id: str,
    extra_env: Mapping[str, str] | None = None,
    logger: logging.Logger | None = None,
    clock: Clock | None = None,
    registry: ProcessRegistry | None = None,
) -> CommandResult:
    """Start and wait; problems of the command come back as a result, never as an exception."""
    try:
        command = RunningCommand.start(
            spec, job_id=job_id, extra_env=extra_env, logger=logger, clock=clock
        )
    except CommandStartError as exc:
        return exc.result
    if registry is not None:
        registry.add(command)
    try:
        return command.wait()
    except BaseException:
        command.kill()  # the waiting thread is going away: leave no orphaned group behind
        raise
    finally:
        if registry is not None:
            registry.discard(command)


def execute_command(
    job_id: str,
    spec: Mapping[str, Any],
    *,
    extra_env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    registry: ProcessRegistry | None = None,
) -> CommandResult:
    """The job function the scheduler stores (``schedctl.commands:execute_command``).

    Takes the JSON-able form of a CommandSpec, returns the result of a successful run
    and raises CommandFailedError otherwise, so the engine emits EVENT_JOB_ERROR.
    """
    result = run_command(
        CommandSpec.from_dict(spec),
        job_id=job_id,
        extra_env=extra_env,
        clock=clock,
        registry=DEFAULT_REGISTRY if registry is None else registry,
    )
    if not result.ok:
        raise CommandFailedError(job_id, result)
    return result
