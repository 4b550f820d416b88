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
  most ``_DRAIN_IDLE`` seconds of silence (``_DRAIN_MAX`` in all, and as long as that
  while a process of the job's group is left), because a process the job left behind
  may hold the pipe open forever.
* Processes a job leaves behind when it exits normally (``daemon &``) are left
  running, as cron does: starting a background service from a job is legitimate. A
  warning names them when they still hold the output pipe; once we stop reading, their
  writes to it fail with SIGPIPE. After a timeout or an interruption nothing is left:
  the group gets until the end of the grace period, then SIGKILL.
* A run given a lease (:class:`~schedctl.commands.leaselink.LeaseLink`) runs under
  :mod:`schedctl.commands.shim`, in the same group as the command, which kills the group when
  the lease's deadline passes or when this process dies, so that a frozen or dead
  node never leaves a command running that another node may start again. The pid a
  leased run reports is the shim's; signals to the group reach both.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import datetime

from schedctl.clock import Clock, SystemClock
from schedctl.commands.capture import OutputCapture, OutputPipe
from schedctl.commands.leaselink import LeaseLink, ShimChannel
from schedctl.commands.outcome import StopReason, outcome_of, signals_sent, with_error
from schedctl.commands.processes import _DRAIN_MAX
from schedctl.commands.runas import UserSwitchError, entered_as_user, run_as
from schedctl.commands.spawn import (
    _close_fds,
    _has_exited,
    _input_fd,
    _log_start,
    _not_started,
    _open_exit_fd,
    _popen,
    _shim_argv,
    _shim_env,
    _signal_group,
    _start_error,
    live_group_members,
    thread_wake_fd,
)
from schedctl.commands.spec import (
    CommandResult,
    CommandSpec,
    CommandStartError,
    EnvFileError,
    build_env,
)

__all__ = ["RunningCommand"]

# Same logger as the rest of the command runner (see spawn.py), whichever module logs.
_log = logging.getLogger("schedctl.commands")
_DRAIN_IDLE = 0.2
_GROUP_POLL = 0.02
_KILL_SETTLE = 1.0
_MAX_BACKOFF = 0.05


class RunningCommand:
    """One started process group, waited for by exactly one thread at a time.

    ``wait`` pumps the output and enforces the timeout; ``terminate`` and ``kill`` may
    be called from any thread and only ask: the waiting thread does the SIGKILL when
    the grace ends. Whoever calls ``wait`` next does it if nobody is waiting yet.
    Under a lease, ``pid`` is the shim's: the command is its child, in the same group.
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
        lease: LeaseLink | None = None,
        channel: ShimChannel | None = None,
    ) -> None:
        self.spec, self.job_id, self.pid, self.pgid = spec, job_id, proc.pid, proc.pid
        self._proc, self._pipe, self._clock = proc, pipe, clock
        self._started_at, self._started_mono = started
        self._deadline = None if spec.timeout is None else self._started_mono + spec.timeout
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._wake_fd: int | None = None  # the waiting thread's while it waits (see _pump)
        self._exit_fd = _open_exit_fd(proc.pid)
        self._backoff = 0.001
        self._exited = self._reaped = self._sigterm_sent = self._sigkill_sent = False
        self._stop_reason: StopReason | None = None
        self._kill_at: float | None = None
        self._grace = 0.0  # what the error message reports: SIGKILL came this long after SIGTERM
        self._result: CommandResult | None = None
        self._lease, self._channel = lease, channel

    @classmethod
    def start(
        cls,
        spec: CommandSpec,
        *,
        job_id: str,
        extra_env: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
        lease: LeaseLink | None = None,
    ) -> RunningCommand:
        """Start ``spec`` in a new session; raises CommandStartError (with a result) if it can't.

        ``logger`` receives the output lines in ``log`` mode (default
        ``schedctl.job.<job_id>``). With a ``lease``, the command runs under the shim,
        which starts at ``lease.first_deadline()``; ``lease.bind`` is called once it runs.
        """
        clock = clock or SystemClock()
        started_mono = time.monotonic()
        try:
            runas = run_as(spec.user)
            env = build_env(spec, job_id, extra_env, runas.env() if runas else None)
            spec, launch = entered_as_user(spec, runas, env)
        except (EnvFileError, UserSwitchError) as exc:
            raise CommandStartError(_not_started(str(exc), started_mono, clock)) from None
        argv = launch.argv()
        if lease is not None:
            argv, env = _shim_argv(launch, lease.first_deadline(), runas), _shim_env(env)
        read_fd, write_fd = os.pipe() if spec.output == "log" else (None, None)
        try:
            shim_fd, channel = ShimChannel.open() if lease is not None else (None, None)
        except BaseException:  # out of descriptors: the output pipe is not kept either
            _close_fds(read_fd, write_fd)
            raise
        started_at = clock.now()
        input_fd = None
        try:
            input_fd = _input_fd(spec)
            proc = _popen(launch, env, write_fd, argv=argv, stdin=shim_fd, input_fd=input_fd,
                          runas=runas if lease is None else None)
        except (OSError, ValueError) as exc:
            _close_fds(read_fd, write_fd)
            if channel is not None:
                channel.close()
            error = (
                _start_error(exc, spec) if isinstance(exc, OSError) else f"invalid command: {exc}"
            )
            raise CommandStartError(_not_started(error, started_mono, clock)) from None
        finally:
            _close_fds(shim_fd, input_fd)
        _log_start(spec, job_id, proc.pid, shim=lease is not None)
        pipe = None
        if read_fd is not None:
            capture = OutputCapture(limit=spec.output_limit, prefix=f"[{job_id}] ",
                                    logger=logger or f"schedctl.job.{job_id}",
                                    log_limit=spec.log_limit, job_id=job_id)
            pipe = OutputPipe(read_fd, capture, writer=write_fd)
        command = cls(proc, spec=spec, job_id=job_id, started=(started_at, started_mono),
                      pipe=pipe, clock=clock, lease=lease, channel=channel)
        if lease is not None and channel is not None:
            command._bind_lease(lease, channel)
        return command

    def _bind_lease(self, lease: LeaseLink, channel: ShimChannel) -> None:
        try:
            lease.bind(channel.send)
        except BaseException:
            self.kill()  # a command nobody renews the lease of must not run on
            self.wait()
            raise

    def running_for(self) -> float:
        """Seconds since the command started (for a stop that says what it waits for)."""
        return time.monotonic() - self._started_mono

    @property
    def result(self) -> CommandResult | None:
        """The outcome once the run is over, else None."""
        return self._result

    def output_so_far(self) -> str:
        """The kept tail of the output up to now (empty unless ``output: log``)."""
        return self._pipe.capture.tail_text() if self._pipe is not None else ""

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

    def terminate(self, grace: float = 10.0, *, reason: StopReason = "interrupted") -> None:
        """SIGTERM the whole group now, SIGKILL it after ``grace``; idempotent, any thread.

        A second call can only shorten the grace (the first call's ``reason`` stays). Once
        the run is over this does nothing, so a recycled pid can never be signalled.
        """
        self._stop(reason, grace)

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
            if self._wake_fd is not None:
                os.eventfd_write(self._wake_fd, 1)

    # -- the waiting thread ----------------------------------------------------------------

    def _pump(self, until: float | None) -> None:
        with self._lock:  # from now on, a stop in another thread wakes this one
            self._wake_fd = wake_fd = thread_wake_fd()
        try:
            pipe_fd = self._pipe.fd if self._pipe is not None else None
            poller = self._poller(pipe_fd, wake_fd, self._exit_fd)
            while not self._exited:
                now = time.monotonic()
                self._enforce_deadlines(now)
                if until is not None and now >= until:
                    return
                for fd, _ in poller.poll(self._poll_ms(now, until)):
                    self._on_ready(fd, poller)
                if self._exit_fd is None:
                    self._exited = _has_exited(self.pid)
        finally:
            with self._lock:
                self._wake_fd = None
        try:
            self._finish()
        finally:
            self._release_lease()

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
        if self._kill_at is None:
            return  # nobody asked for a stop: nothing to enforce (set under the lock, read once)
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
                os.eventfd_read(fd)
            except BlockingIOError:
                pass

    def _finish(self) -> None:
        with self._lock:
            returncode = self._proc.wait()  # instant: the child has exited
            self._reaped = True
        duration = time.monotonic() - self._started_mono
        finished_at = self._clock.now()
        if self._pipe is not None:
            self._pipe.writer_done()
        if self._stop_reason is not None:
            self._end_group()
        if self._pipe is not None:
            self._drain(self._pipe)
        if self._exit_fd is not None:
            os.close(self._exit_fd)
        self._result = self._make_result(returncode, duration, finished_at)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: %s", self.job_id, self._result.describe())

    def _release_lease(self) -> None:
        """Stop the renewals and close the shim's pipe; after ``_finish``, so the lease is
        held until a stopped group is really gone. Idempotent."""
        lease, self._lease = self._lease, None
        try:
            if lease is not None:
                lease.unbind()
        finally:
            if self._channel is not None:
                self._channel.close()

    def _end_group(self) -> None:
        """After a stop, give the rest of the group until the grace ends, then SIGKILL it."""
        assert self._kill_at is not None
        # SIGKILL is delivered asynchronously: keep looking (a bounded while) until the
        # group is really gone, so that a returned result means "nothing left running".
        give_up = max(self._kill_at, time.monotonic()) + _KILL_SETTLE
        while live_group_members(self.pgid):
            now = time.monotonic()
            if now >= give_up:
                _log.warning("%s: processes of group %d survive SIGKILL", self.job_id, self.pgid)
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
            if now >= stop_at and now < start + _DRAIN_MAX and live_group_members(self.pgid):
                # A process of its group may yet let go: a job's "daemon &" holds the pipe
                # until its redirections run, which on a busy machine takes a while.
                quiet_since = now
            elif now >= stop_at:
                pipe.close()
                self._warn_pipe_held()
            elif pipe.read_for(stop_at - now):
                quiet_since = time.monotonic()
        pipe.close()  # logs a last line without its newline

    def _warn_pipe_held(self) -> None:
        leftovers = live_group_members(self.pgid)
        _log.warning(
            "%s: exited, but its output pipe is still held open by a process it left behind "
            "(pids in its group: %s); stopped reading, and that process keeps running",
            self.job_id,
            ", ".join(map(str, leftovers)) or "none, it left the group",
        )

    def _make_result(
        self, returncode: int, duration: float, finished_at: datetime
    ) -> CommandResult:
        result = CommandResult(
            outcome=outcome_of(returncode, self._stop_reason),
            exit_code=returncode if returncode >= 0 else None,
            signal=-returncode if returncode < 0 else None,
            started_at=self._started_at,
            finished_at=finished_at,
            duration=duration,
            pid=self.pid,
            timeout=self.spec.timeout,
            output_tail=self._pipe.capture.tail_text() if self._pipe is not None else "",
        )
        if result.outcome == "success":
            return result
        signals = signals_sent(
            sigterm=self._sigterm_sent, sigkill=self._sigkill_sent, grace=self._grace
        )
        return with_error(result, self.spec, signals=signals)
