"""Callables as ``module:qualname`` text, so stores never pickle and never run code on load."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def obj_to_ref(obj: Callable[..., Any]) -> str:
    """Return the ``module:qualname`` reference that finds ``obj`` again.

    Raises ValueError for callables that cannot be found by name (lambdas,
    nested functions, bound methods of instances).
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname:
        raise ValueError(f"func: cannot make a reference to {obj!r} (it has no module and name)")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(
            f"func: {obj!r} cannot be stored; use a module-level function "
            "(lambdas and nested functions have no importable name)"
        )
    ref = f"{module}:{qualname}"
    try:
        found = ref_to_obj(ref)
    except (LookupError, ImportError):
        found = None
    if found is not obj and getattr(found, "__func__", None) is not getattr(obj, "__func__", obj):
        raise ValueError(f"func: {obj!r} cannot be stored; {ref!r} does not lead back to it")
    return ref


def ref_to_obj(ref: str) -> Any:
    """Import the object a ``module:qualname`` reference names."""
    if not isinstance(ref, str):
        raise TypeError(f"func: references must be strings, got {type(ref).__name__}")
    if ":" not in ref:
        raise ValueError(f"func: invalid reference {ref!r} (expected 'module:qualname')")
    module_name, _, rest = ref.partition(":")
    # Every run of a stored job asks again: a module already imported (and done importing)
    # is taken from sys.modules, without import_module's locks and checks, a third of the cost.
    obj: Any = sys.modules.get(module_name)
    if obj is None or getattr(getattr(obj, "__spec__", None), "_initializing", False):
        try:
            obj = importlib.import_module(module_name)
        except ImportError as exc:
            raise LookupError(
                f"func: cannot import module {module_name!r} of {ref!r}: {exc}"
            ) from exc
    for name in rest.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise LookupError(f"func: {ref!r} names nothing ({name!r} not found)") from None
    return obj


def callable_name(func: Callable[..., Any]) -> str:
    """A readable default job name for ``func``."""
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func))
