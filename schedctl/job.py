"""Job: what to run, when (its trigger), and how (executor, misfire and overlap rules)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from schedctl.refs import callable_name, obj_to_ref, ref_to_obj
from schedctl.timeutil import UTC, convert_to_datetime, datetime_repr, get_localzone
from schedctl.triggers._common import encode_json
from schedctl.triggers.base import BaseTrigger, trigger_from_json, trigger_to_json

if TYPE_CHECKING:
    from schedctl.schedulers.base import BaseScheduler

STATE_VERSION = 1

#: An option not given to the constructor (None is a value some options refuse).
_UNSET: Any = object()

#: The options ``Job`` accepts in its constructor and ``modify``.
JOB_OPTIONS = frozenset({
    "id", "name", "func", "args", "kwargs", "trigger", "executor", "misfire_grace_time",
    "coalesce", "max_instances", "next_run_time", "meta",
})


class Job:
    """A scheduled job. Change it through its methods, which go through the scheduler.

    ``next_run_time`` None means paused. ``func`` may be given as a callable or as
    a ``"module:qualname"`` text; stored jobs keep the text and import it only when
    run, so loading a store never imports user code.
    """

    __slots__ = (
        "_func",
        "_jobstore_alias",
        "_next_run_unset",
        "_scheduler",
        "args",
        "coalesce",
        "executor",
        "func_ref",
        "id",
        "kwargs",
        "max_instances",
        "meta",
        "misfire_grace_time",
        "name",
        "next_run_time",
        "trigger",
        "version",
    )

    def __init__(
        self, scheduler: BaseScheduler | None, id: str | None = None, *, func: Any = _UNSET,
        name: Any = _UNSET, args: Any = (), kwargs: Any = _UNSET, trigger: Any = _UNSET,
        executor: Any = "default", misfire_grace_time: Any = None, coalesce: Any = True,
        max_instances: Any = 1, next_run_time: Any = _UNSET, meta: Any = _UNSET, **unknown: Any,
    ) -> None:
        # Options as keyword parameters, checked by ``_apply`` as ``modify`` checks them: a
        # batch makes 100,000 jobs, and packing them into a dict to test each name in it
        # cost as much as the checks.
        if unknown:
            raise TypeError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        self._scheduler = scheduler
        self._jobstore_alias: str | None = None
        self.version = 0
        job_id = id or uuid4().hex
        if type(job_id) is str:
            self.id: str = job_id
        else:
            self._set_id(job_id)
        self._func: Callable[..., Any] | None = None
        self.func_ref: str | None = None
        self.name = ""
        self.kwargs: dict[str, Any] = {}
        self.next_run_time: datetime | None = None
        # Until a next run time is given or computed (when the scheduler starts): "pending".
        self._next_run_unset = True
        self.meta: dict[str, Any] = {}
        self._apply(
            func=func, name=name, args=args, kwargs=kwargs, trigger=trigger, executor=executor,
            misfire_grace_time=misfire_grace_time, coalesce=coalesce,
            max_instances=max_instances, next_run_time=next_run_time, meta=meta,
        )

    # -- public API, mirroring APScheduler 3 ---------------------------------------------

    def modify(self, **changes: Any) -> Job:
        """Change the job's options and save it."""
        self._require_scheduler().modify_job(self.id, self._jobstore_alias, **changes)
        return self

    def reschedule(self, trigger: Any, **trigger_args: Any) -> Job:
        """Give the job a new trigger and a fresh next run time."""
        self._require_scheduler().reschedule_job(
            self.id, self._jobstore_alias, trigger, **trigger_args
        )
        return self

    def pause(self) -> Job:
        self._require_scheduler().pause_job(self.id, self._jobstore_alias)
        return self

    def resume(self) -> Job:
        self._require_scheduler().resume_job(self.id, self._jobstore_alias)
        return self

    def remove(self) -> None:
        self._require_scheduler().remove_job(self.id, self._jobstore_alias)

    @property
    def pending(self) -> bool:
        """True until the scheduler has started and placed the job in a store."""
        return self._jobstore_alias is None

    @property
    def paused(self) -> bool:
        return self.next_run_time is None

    @property
    def func(self) -> Callable[..., Any]:
        """The callable, imported from ``func_ref`` on first use."""
        if self._func is None:
            assert self.func_ref is not None
            self._func = ref_to_obj(self.func_ref)
        return self._func

    # -- validation ------------------------------------------------------------------------

    def _modify(self, **changes: Any) -> None:
        if not JOB_OPTIONS.issuperset(changes):
            unknown = set(changes) - JOB_OPTIONS
            raise TypeError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        if "id" in changes:
            self._set_id(changes.pop("id"))
        self._apply(**changes)

    def _apply(
        self, *, func: Any = _UNSET, name: Any = _UNSET, args: Any = _UNSET,
        kwargs: Any = _UNSET, trigger: Any = _UNSET, executor: Any = _UNSET,
        misfire_grace_time: Any = _UNSET, coalesce: Any = _UNSET, max_instances: Any = _UNSET,
        next_run_time: Any = _UNSET, meta: Any = _UNSET,
    ) -> None:
        """Check and set the options given (``_UNSET``: left as they are); the usual types
        pass in one test each."""
        if func is not _UNSET:
            self._set_func(func, None if name is _UNSET else name)
        if name is not _UNSET:
            if not isinstance(name, str):
                raise TypeError(f"name: must be a string, got {name!r}")
            self.name = name
        if args is not _UNSET:
            self.args: tuple[Any, ...] = _check_args(args)
        if kwargs is not _UNSET:
            self.kwargs = _check_kwargs(kwargs)
        if trigger is not _UNSET:
            if not isinstance(trigger, BaseTrigger):
                raise TypeError(f"trigger: expected a trigger, got {trigger!r}")
            self.trigger = trigger
        if executor is not _UNSET:
            if not isinstance(executor, str):
                raise TypeError(f"executor: must be an executor alias, got {executor!r}")
            self.executor = executor
        if misfire_grace_time is not _UNSET:
            self.misfire_grace_time: float | None = (
                None if misfire_grace_time is None else _check_grace(misfire_grace_time)
            )
        if coalesce is not _UNSET:
            self.coalesce = coalesce if type(coalesce) is bool else _check_bool("coalesce", coalesce)
        if max_instances is not _UNSET:
            self.max_instances = (
                max_instances if type(max_instances) is int and max_instances >= 1
                else _check_max_instances(max_instances)
            )
        if next_run_time is not _UNSET:
            self.next_run_time = self._door_datetime(next_run_time, "next_run_time")
            self._next_run_unset = False
        if meta is not _UNSET:
            if not isinstance(meta, Mapping):
                raise TypeError(f"meta: must be a mapping, got {meta!r}")
            self.meta = dict(meta)

    def _door_datetime(self, value: Any, argname: str) -> datetime | None:
        """An instant given through the API, in UTC. A naive datetime or an ISO text is read
        in the scheduler's zone (the machine's without one), as in APScheduler 3."""
        if value is None:
            return None
        if type(value) is datetime and value.tzinfo is UTC:
            return value  # already what it would become (a batch of jobs gives 100,000 of these)
        tz = getattr(self._scheduler, "timezone", None)
        if tz is None:  # an aware value needs no zone: spare asking the machine for its own
            aware = isinstance(value, datetime) and value.utcoffset() is not None
            tz = UTC if aware else get_localzone()
        result = convert_to_datetime(value, tz, argname)
        return None if result is None else result.astimezone(UTC)

    def _set_id(self, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError(f"id: must be a non-empty string, got {value!r}")
        if self._jobstore_alias is not None and value != self.id:
            raise ValueError(f"id: cannot change the id of a stored job ({self.id!r} -> {value!r})")
        self.id = value

    def _set_func(self, func: Any, name: str | None) -> None:
        if isinstance(func, str):
            _check_ref(func)  # fail now, not at the first run, on a typo
            self.func_ref, self._func = func, None
            default_name = func.partition(":")[2] or func
        elif callable(func):
            self._func = func
            try:
                self.func_ref = obj_to_ref(func)
            except ValueError:
                self.func_ref = None  # fine in memory; persistent stores refuse it
            default_name = callable_name(func)
        else:
            raise TypeError(f"func: expected a callable or a 'module:qualname' text, got {func!r}")
        if name is None and not self.name:
            self.name = default_name

    # -- serialization ------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The JSON-safe form persistent stores keep. ValueError if it cannot be stored."""
        state = self._state()
        self._encode_state(state)
        return state

    def to_json(self) -> str:
        """``to_state()`` as compact JSON text, checked and encoded in one pass (stores keep
        this; encoding twice was a third of the cost of adding many jobs)."""
        return self._encode_state(self._state())

    def _state(self) -> dict[str, Any]:
        if self.func_ref is None:
            raise ValueError(
                f"job {self.id!r}: func {self._func!r} cannot be stored; use a module-level "
                "function or a 'module:qualname' text"
            )
        return {
            "version": STATE_VERSION,
            "id": self.id,
            "name": self.name,
            "func": self.func_ref,
            "args": list(self.args),
            "kwargs": self.kwargs,
            "trigger": trigger_to_json(self.trigger),
            "executor": self.executor,
            "misfire_grace_time": self.misfire_grace_time,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "meta": self.meta,
        }

    def _encode_state(self, state: dict[str, Any]) -> str:
        try:
            return encode_json(state)
        except RecursionError:
            raise ValueError(
                f"job {self.id!r}: args, kwargs and meta must be JSON data to be stored "
                "(they contain themselves, or nest too deep)"
            ) from None
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"job {self.id!r}: args, kwargs and meta must be JSON data to be stored ({exc})"
            ) from None

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        next_run_time: datetime | None,
        version: int,
        scheduler: BaseScheduler | None = None,
        jobstore_alias: str | None = None,
    ) -> Job:
        """Rebuild a stored job without importing its function."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"job state version {state.get('version')!r} is not supported")
        job = cls.__new__(cls)
        job._scheduler, job._jobstore_alias = scheduler, jobstore_alias
        job.id, job.name = state["id"], state["name"]
        job._func, job.func_ref = None, state["func"]
        job.args, job.kwargs = tuple(state["args"]), dict(state["kwargs"])
        job.trigger = trigger_from_json(state["trigger"])
        job.executor = state["executor"]
        job.misfire_grace_time = state["misfire_grace_time"]
        job.coalesce, job.max_instances = state["coalesce"], state["max_instances"]
        job.meta = dict(state.get("meta") or {})
        job.next_run_time, job.version = next_run_time, version
        job._next_run_unset = False
        return job

    def __getstate__(self) -> dict[str, Any]:
        """``to_state()`` plus the next run time and version, for a store that pickles
        jobs the way APScheduler 3's stores do (``pickle.dumps(job.__getstate__())``)."""
        return {**self.to_state(), "next_run_time": self.next_run_time, "_version": self.version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Inverse of ``__getstate__``; the store attaches the scheduler afterwards."""
        state = dict(state)
        next_run_time, version = state.pop("next_run_time"), state.pop("_version", 0)
        job = Job.from_state(state, next_run_time=next_run_time, version=version)
        for slot in Job.__slots__:
            setattr(self, slot, getattr(job, slot))

    def copy(self) -> Job:
        """A shallow copy, so a store's own object is never changed behind its back.

        Spelled out rather than a loop over ``__slots__`` (a test checks it names every
        one): a store copies each job it hands out, and the loop cost three times as much.
        """
        clone = Job.__new__(Job)
        clone._func, clone._jobstore_alias = self._func, self._jobstore_alias
        clone._next_run_unset, clone._scheduler = self._next_run_unset, self._scheduler
        clone.args, clone.coalesce, clone.executor = self.args, self.coalesce, self.executor
        clone.func_ref, clone.id, clone.kwargs = self.func_ref, self.id, dict(self.kwargs)
        clone.max_instances, clone.meta = self.max_instances, dict(self.meta)
        clone.misfire_grace_time, clone.name = self.misfire_grace_time, self.name
        clone.next_run_time, clone.trigger = self.next_run_time, self.trigger
        clone.version = self.version
        return clone

    # -- presentation ---------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Job (id={self.id} name={self.name})>"

    def __str__(self) -> str:
        if self._next_run_unset and self.pending:
            status = "pending"
        elif self.next_run_time is None:
            status = "paused"
        else:
            tz = getattr(self.trigger, "timezone", None)
            shown = self.next_run_time.astimezone(tz) if tz else self.next_run_time
            status = f"next run at: {datetime_repr(shown)}"
        return f"{self.name} (trigger: {self.trigger}, {status})"

    def _require_scheduler(self) -> BaseScheduler:
        if self._scheduler is None:
            raise RuntimeError(f"job {self.id!r} is not attached to a scheduler")
        return self._scheduler


#: References that resolved once, so a batch of jobs of one function imports it once. Bounded:
#: a program names few functions, and a miss only costs the lookup again.
_RESOLVED_REFS: set[str] = set()


def _check_ref(ref: str) -> None:
    if ref not in _RESOLVED_REFS:
        ref_to_obj(ref)
        if len(_RESOLVED_REFS) < 1024:
            _RESOLVED_REFS.add(ref)


def _check_args(value: Any) -> tuple[Any, ...]:
    if type(value) is tuple:  # the usual forms, spared the abstract checks
        return value
    if type(value) is list:
        return tuple(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"args: must be a list or tuple, got {value!r}")
    return tuple(value)


def _check_kwargs(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return dict(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"kwargs: must be a mapping, got {value!r}")
    return dict(value)


def _check_grace(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise TypeError(
            f"misfire_grace_time: must be a positive number of seconds or None, got {value!r}"
        )
    return float(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: must be true or false, got {value!r}")
    return value


def _check_max_instances(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_instances: must be a positive integer, got {value!r}")
    return value
