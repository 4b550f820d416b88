"""SHA-256 without OpenSSL, for the jobfile's digests: definition hashes, the state
file's name, the jobfile digest of a cluster node and the run guard's report keys.

``hashlib`` loads OpenSSL's libcrypto (3.4 MB of a long-running service's memory) for
its first hash. CPython's own SHA-256 (``_sha256``; ``_sha2`` from 3.12) is the same
cryptographic hash, so stored digests stay what they were; hashlib's is the fallback
for an interpreter built without it.
"""

from __future__ import annotations

from typing import Protocol

try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found]
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]
    except ImportError:
        from hashlib import sha256 as _sha256


class Hash(Protocol):
    """What a SHA-256 object offers here."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def sha256(data: bytes = b"") -> Hash:
    """A SHA-256 object fed with ``data``."""
    return _sha256(data)
