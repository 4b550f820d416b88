"""Finding a command's program on the ``PATH`` in this process, before the child is started.

A bare program name (``true``, ``backup.sh``) is otherwise searched for by the child:
between fork and exec it tries ``execve`` in each ``PATH`` directory in turn, and every
attempt that fails still costs the kernel a few microseconds while the parent waits
(about 50 µs for ``true`` behind nine directories, a tenth of what running ``true``
costs). Asking with ``access`` here costs a fraction of that.

The search never decides differently from the child's own: a directory is skipped only
when ``execve`` there would fail too (nothing executable by that name), and the found
file is exec'd by its path with the argv unchanged. Whenever it cannot be sure (a
relative ``PATH`` entry, which the child would resolve from its own working directory)
it answers None and the child searches as before; and if exec'ing what it found fails,
the caller starts again with the child's search (:func:`~schedctl.commands.spawn._popen`),
so error messages and the "first error wins" rule stay the child's. Nothing is cached:
a program installed or removed between two runs is seen by the next one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

__all__ = ["find_program"]

#: What exec uses when the environment has no PATH (as ``os.get_exec_path`` does).
_DEFAULT_PATH = os.fsencode(os.defpath)
#: ``access`` with the effective ids, as ``execve`` checks them (plain ``access`` uses the real).
_EFFECTIVE = os.access in os.supports_effective_ids


def find_program(program: str, env: Mapping[bytes, bytes]) -> bytes | None:
    """The path the child's ``PATH`` search would exec for ``program``, or None when the
    child should search itself (a name with a ``/``, a relative ``PATH`` entry, nothing
    found, a name exec cannot take)."""
    if not program or os.sep in program or "\0" in program:
        return None
    name = os.fsencode(program)
    looked: set[bytes] = set()
    for directory in env.get(b"PATH", _DEFAULT_PATH).split(b":"):
        if not directory.startswith(b"/"):
            return None  # "" or "bin" mean the child's working directory: let it search
        if directory in looked:
            continue  # a directory named twice answers the same the second time
        looked.add(directory)
        candidate = directory + b"/" + name
        if os.access(candidate, os.X_OK, effective_ids=_EFFECTIVE) and _is_file(candidate):
            return candidate
    return None


def _is_file(path: bytes) -> bool:
    """A directory passes ``access(X_OK)`` but ``execve`` refuses it: the search goes on."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
