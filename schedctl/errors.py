"""Domain errors. Each builds its own message, so callers never format one by hand."""

from __future__ import annotations


class SchedctlError(Exception):
    """Base of every error schedctl raises on purpose."""

    exit_code = 1


class JobLookupError(SchedctlError, KeyError):
    """No job with the given id exists."""

    def __init__(self, job_id: str, known: list[str] | None = None) -> None:
        message = f"No job by the id of {job_id!r} was found"
        if known is not None:
            message += f" (known ids: {', '.join(sorted(known)) or 'none'})"
        super().__init__(message)
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


class ConflictingIdError(SchedctlError, KeyError):
    """A job with the given id already exists."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job identifier ({job_id!r}) conflicts with an existing job")
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


class StaleJobError(SchedctlError):
    """A job changed in the store since it was read (compare-and-set failed)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id!r} was changed by another writer; reload it and retry")
        self.job_id = job_id


class MaxInstancesReachedError(SchedctlError):
    """The job already runs as many instances as it may."""

    def __init__(self, job_id: str, max_instances: int) -> None:
        super().__init__(
            f"Job {job_id!r} already has {max_instances} running instance(s) (max_instances)"
        )
        self.job_id = job_id


class SchedulerAlreadyRunningError(SchedctlError):
    def __init__(self) -> None:
        super().__init__("Scheduler is already running")


class SchedulerNotRunningError(SchedctlError):
    def __init__(self) -> None:
        super().__init__("Scheduler is not running")


class StoreError(SchedctlError):
    """The state store cannot be read or written (corrupt file, full disk, ...)."""
