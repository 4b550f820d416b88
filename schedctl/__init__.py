"""schedctl: a crontab replacement with an APScheduler-style scheduling engine."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["BackgroundScheduler", "BlockingScheduler", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that ``schedctl --help`` does not pay for the engine.
    if name == "BlockingScheduler":
        from schedctl.schedulers.blocking import BlockingScheduler

        return BlockingScheduler
    if name == "BackgroundScheduler":
        from schedctl.schedulers.background import BackgroundScheduler

        return BackgroundScheduler
    raise AttributeError(f"module 'schedctl' has no attribute {name!r}")
