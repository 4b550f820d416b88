"""Modules of ``call:`` jobs pass the trust rule file by file, not only their directory.

The jobfile's directory goes on ``sys.path`` only when nobody else may add files to it,
but a module already in it may still belong to another user, or be writable by all (a
tree unpacked from another user's archive keeps its owners), and so may a package
directory under it or a ``__pycache__`` whose compiled file Python prefers to the source.
Whoever can change one of them runs code as schedctl. So every module found under a
guarded directory is checked with :func:`schedctl.trust.check_trusted` before Python
loads it: its file, its compiled file, a package's directories. A path hook gives the
check to every finder of such a directory, those of packages beneath it included.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
from typing import Any

from schedctl.trust import (
    UntrustedFileError,
    check_trusted,
    check_trusted_problem,
    import_directory_problem,
)

_lock = threading.Lock()
_roots: set[str] = set()


def guard_imports(directory: str) -> None:
    """Check every module found in ``directory`` or beneath it before it is loaded."""
    root = os.path.abspath(directory)
    with _lock:
        if _hook not in sys.path_hooks:
            sys.path_hooks.insert(0, _hook)
        _roots.add(root)
    # A finder made before the guard would go on loading unchecked.
    for path in list(sys.path_importer_cache):
        if _guarded(path):
            sys.path_importer_cache.pop(path, None)


def _guarded(path: str) -> bool:
    try:
        path = os.path.abspath(path)
    except (TypeError, ValueError):
        return False
    return any(path == root or path.startswith(root + os.sep) for root in _roots)


def _hook(path: str) -> CheckedFinder:
    """A path hook: the usual finder of a guarded directory, wrapped in the check."""
    if not isinstance(path, str) or not _guarded(path):
        raise ImportError("not a directory of call: modules")  # the next hook takes it
    for hook in sys.path_hooks:
        if hook is _hook:
            continue
        try:
            return CheckedFinder(hook(path))
        except ImportError:
            continue
    raise ImportError(f"no finder for {path}")


class CheckedFinder:
    """A path entry finder whose specs pass the trust rule, or are refused with its reason."""

    def __init__(self, finder: Any) -> None:
        self.finder = finder

    def find_spec(self, fullname: str, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        spec = self.finder.find_spec(fullname, target)
        if spec is not None:
            check_spec(spec)
        return spec

    def invalidate_caches(self) -> None:
        invalidate = getattr(self.finder, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()


def check_spec(spec: importlib.machinery.ModuleSpec) -> None:
    """Raise ImportError, naming the file and the fix, unless everything Python would read
    to load ``spec`` passes the rule (or ``--insecure`` lets it through, with a warning)."""
    paths = [spec.origin] if spec.has_location and spec.origin else []
    if spec.cached:
        paths.append(spec.cached)
    directories = list(spec.submodule_search_locations or ())  # a package's directories
    directories += {os.path.dirname(path) for path in paths}
    for path in paths:
        try:
            check_trusted(path)
        except UntrustedFileError as exc:
            raise ImportError(str(exc), name=spec.name, path=path) from None
    for directory in dict.fromkeys(directories):
        _check_closed(directory, spec.name)


def _check_closed(directory: str, name: str) -> None:
    """Nobody else may add files where a module is loaded from, sticky or not: a file
    added there after the check found none (a compiled file Python prefers to the
    source, a module of the package) would be loaded unchecked."""
    try:
        problem = import_directory_problem(directory)
    except FileNotFoundError:  # a __pycache__ not made yet: its parent is checked
        return
    if problem is not None:
        try:
            check_trusted_problem(directory, problem)
        except UntrustedFileError as exc:
            raise ImportError(str(exc), name=name, path=directory) from None
