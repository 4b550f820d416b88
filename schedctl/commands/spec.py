"""What a command run is, and how it ended: CommandSpec, CommandResult, their errors,
and the environment a command gets. Plain data, kept apart from the process handling
in :mod:`schedctl.commands.running`."""

from __future__ import annotations

import functools
import os
import re
import signal
import stat
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, get_args

from schedctl.commands.capture import DEFAULT_LOG_LIMIT
from schedctl.errors import SchedctlError
from schedctl.trust import UntrustedFileError, open_trusted

OutputMode = Literal["log", "inherit", "discard"]
Outcome = Literal[
    "success", "failed", "timeout", "killed", "not_started", "interrupted", "replaced"
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
    stdin: str | None = None  # the command's standard input; None: /dev/null
    user: str | None = None  # run as this user (root only); see schedctl.commands.runas
    log_limit: int = DEFAULT_LOG_LIMIT

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
        known = _SPEC_KEYS
        problems = [_unknown_key(key, list(known)) for key in data if key not in known]
        if "command" not in data:
            problems.insert(0, "command: required")
        if problems:
            raise CommandSpecError("; ".join(problems))
        return cls(**dict(data))


#: Read at every run of a command job (``from_dict``): worked out once.
_SPEC_KEYS = {f.name: None for f in fields(CommandSpec)}  # a set that keeps the order
_OUTPUT_MODES = get_args(OutputMode)


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
    if spec.stdin is not None and not isinstance(spec.stdin, str):
        yield f"stdin: must be text, got {type(spec.stdin).__name__}"
    if spec.output not in _OUTPUT_MODES:
        yield f"output: must be one of log, inherit, discard; got {spec.output!r}"
    if not (
        _is_number(spec.output_limit)
        and isinstance(spec.output_limit, int)
        and spec.output_limit >= 0
    ):
        yield f"output_limit: must be a number of bytes >= 0, got {spec.output_limit!r}"
    if spec.user is not None and not (isinstance(spec.user, str) and spec.user.strip()
                                      and "\0" not in spec.user):
        yield f"user: must be a user name, got {spec.user!r}"
    if not (isinstance(spec.log_limit, int) and not isinstance(spec.log_limit, bool)
            and spec.log_limit >= 0):
        yield f"log_limit: must be a number of bytes >= 0, got {spec.log_limit!r}"
    # Names only: values may be secrets and must never reach a message.
    for name, value in spec.env.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            yield f"env: {name!r} is not a valid variable name"
        elif not isinstance(value, str) or "\0" in value:
            yield f"env: the value of {name} must be a string without NUL characters"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown_key(key: str, known: list[str]) -> str:
    import difflib  # only for a mistake: every command that shows a run imports this module

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
        if self.outcome in ("interrupted", "replaced"):
            return f"{self.outcome} after {took}"
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
    """``0.25`` -> ``250ms``, ``5.0`` -> ``5s``, ``12.34`` -> ``12.3s``, ``125`` -> ``2m05s``.

    A value that rounds up to the next unit is shown in it (``59.97`` -> ``1m00s``, not
    ``60s``), so one length always reads the same.
    """
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    whole = max(int(seconds), 60)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s"


def signal_name(signum: int | None) -> str:
    try:
        return signal.Signals(signum or 0).name
    except ValueError:
        return f"signal {signum}"


#: The largest ``env_file`` read: far above any list of variables, far below what would
#: stall a run or fill memory (a file that grows without end, a link to ``/dev/zero``).
ENV_FILE_LIMIT = 1 << 20


def parse_env_file(path: str) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines: ``#`` comments, blank lines, ``export`` prefixes, quotes.

    Nothing is interpolated. Read at every run, so an edited secret takes effect
    without reloading the scheduler; and checked at every run by the trust rule
    (:func:`schedctl.trust.open_trusted`), since whoever can change it (a ``PATH``,
    an ``LD_PRELOAD``) decides what the command runs. Only a regular file of at most
    ``ENV_FILE_LIMIT`` bytes is read: a FIFO would wait for a writer, a device or a
    growing file might never end.
    """
    try:
        text = _read_env_file(path).decode("utf-8")
    except UnicodeDecodeError:
        raise EnvFileError(f"env_file {path!r} cannot be read: not UTF-8 text") from None
    env: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            pair = _parse_env_line(line)
        except ValueError as exc:
            raise EnvFileError(f"env_file {path!r} line {lineno}: {exc}") from None
        if pair is not None:
            env[pair[0]] = pair[1]
    return env


def env_file_problem(info: os.stat_result) -> str | None:
    """Why an ``env_file`` with this status is not read (not a regular file, too large).
    ``/dev/null`` is the one device let through: it reads empty at once, and stands for
    "no variables" where a path must be given."""
    if stat.S_ISCHR(info.st_mode) and info.st_rdev == _null_device():
        return None
    if not stat.S_ISREG(info.st_mode):
        return f"is not a regular file ({_file_kind(info.st_mode)}); name a file of KEY=VALUE lines"
    if info.st_size > ENV_FILE_LIMIT:
        return (f"is {info.st_size} bytes, over the limit of 1 MiB; keep only KEY=VALUE "
                "lines in it")
    return None


def _read_env_file(path: str) -> bytes:
    try:
        _refuse_before_open(path)
        # Opened, then checked as the file opened: a file put there after a check that
        # found nothing (a sticky directory) is never read. Non-blocking: a FIFO swapped
        # in after the stat must not hold the run until someone writes to it.
        with os.fdopen(open_trusted(path, flags=os.O_NONBLOCK), "rb") as stream:
            problem = env_file_problem(os.fstat(stream.fileno()))
            if problem is not None:
                raise EnvFileError(f"env_file {path!r} {problem}")
            data = stream.read(ENV_FILE_LIMIT + 1)  # a file grown since the fstat stops here
    except UntrustedFileError as exc:
        raise EnvFileError(f"env_file {exc}") from None
    except FileNotFoundError:
        raise EnvFileError(f"env_file not found: {path!r}") from None
    except OSError as exc:
        raise EnvFileError(f"env_file {path!r} cannot be read: {exc.strerror}") from None
    if len(data) > ENV_FILE_LIMIT:
        raise EnvFileError(f"env_file {path!r} grew past the limit of 1 MiB while being read")
    return data


def _refuse_before_open(path: str) -> None:
    """A FIFO or a device is refused unopened: opening one may wait, or act (a tape, a
    watchdog). A path that cannot be looked up is left to the open, which says why."""
    try:
        info = os.stat(path)
    except OSError:
        return
    problem = env_file_problem(info)
    if problem is not None:
        raise EnvFileError(f"env_file {path!r} {problem}")


@functools.cache
def _null_device() -> int | None:
    try:
        return os.stat(os.devnull).st_rdev
    except OSError:
        return None


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


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
    spec: CommandSpec, job_id: str, extra_env: Mapping[str, str] | None = None,
    user_env: Mapping[str, str] | None = None,
) -> dict[bytes, bytes]:
    """Inherited environment < ``user_env`` (HOME, SHELL from the password entry) < env_file
    < env < extra_env < SCHEDCTL_JOB_ID; USER and LOGNAME of ``user_env`` last, as cron
    lets a crontab change HOME and SHELL but never who the job runs as.

    Built as bytes, the form exec takes: the inherited part is one dict copy, and only
    the few variables schedctl sets are encoded (see :func:`inherited_environ`).
    """
    env = inherited_environ()
    layers: list[Mapping[str, str]] = [user_env or {}]
    if spec.env_file is not None:
        layers.append(parse_env_file(spec.env_file))
    layers += [spec.env, extra_env or {},
               {key: value for key, value in (user_env or {}).items()
                if key in ("USER", "LOGNAME")},
               {"SCHEDCTL_JOB_ID": job_id}]
    for layer in layers:
        for key, value in layer.items():
            env[os.fsencode(key)] = os.fsencode(value)
    return env


def inherited_environ() -> dict[bytes, bytes]:
    """A copy of this process's environment as bytes, as it is now (a change made with
    ``os.environ[...] = ...`` shows in the next run).

    ``os.environb`` decodes nothing, but copying it goes through its Python-level mapping
    methods, one call per variable: 17 µs for 40 variables, a tenth of what starting
    ``true`` costs this process. CPython keeps the encoded variables in a plain dict,
    ``os.environb._data``, whose copy takes 0.2 µs; where it is not there, the slow copy.
    """
    data = getattr(os.environb, "_data", None)
    return data.copy() if type(data) is dict else dict(os.environb)
