"""Task result caching: cache policies, keys, and the store of cached results.

A task with a cache key (from ``cache_key_fn`` or a ``cache_policy`` such as ``INPUTS``) first
looks its key up; a live entry ends the run as Completed, named Cached, without calling the
function. Entries expire after ``cache_expiration`` (by the engine's clock) and are kept as
files under ``PROCTOR_HOME/cache`` so they survive the process (pickled: a result that cannot
be pickled is not cached).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = (
    "DEFAULT",
    "INPUTS",
    "NO_CACHE",
    "TASK_SOURCE",
    "CachePolicy",
    "CacheStore",
    "default_store",
    "hash_objects",
)

log = logging.getLogger(__name__)


def hash_objects(*objects: Any) -> str | None:
    """A stable hash of ``objects`` (via pickle), or None when they cannot be hashed."""
    try:
        data = pickle.dumps(objects, protocol=5)
    except Exception:
        return None
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CachePolicy:
    """What a task's cache key is made of. Combine policies with ``+``."""

    parts: frozenset[str] = frozenset()

    def compute_key(
        self, task_key: str, fn: Callable[..., Any], inputs: Mapping[str, Any]
    ) -> str | None:
        if not self.parts:
            return None
        pieces: list[Any] = [task_key]
        if "inputs" in self.parts:
            pieces.append(sorted(inputs.items()))
        if "source" in self.parts:
            try:
                pieces.append(inspect.getsource(fn))
            except (OSError, TypeError):
                pieces.append(getattr(fn, "__qualname__", repr(fn)))
        return hash_objects(*pieces)

    def __add__(self, other: CachePolicy) -> CachePolicy:
        return CachePolicy(self.parts | other.parts)


NO_CACHE = CachePolicy()
"""No caching (the default)."""
INPUTS = CachePolicy(frozenset({"inputs"}))
"""Same task, same inputs: same key."""
TASK_SOURCE = CachePolicy(frozenset({"source"}))
"""Same task source code: same key."""
DEFAULT = INPUTS + TASK_SOURCE
"""Same inputs and same source code."""


class CacheStore:
    """Cached results as files, one per key: ``(expires, value)`` pickled."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str, now: datetime) -> tuple[bool, Any]:
        """``(True, value)`` for a live entry, else ``(False, None)``."""
        try:
            expires, value = pickle.loads(self._path(key).read_bytes())
        except FileNotFoundError:
            return False, None
        except Exception as error:
            log.warning("ignoring an unreadable cache entry for key %r: %s", key, error)
            return False, None
        if expires is not None and expires <= now:
            return False, None
        return True, value

    def put(self, key: str, value: Any, expires: datetime | None) -> None:
        try:
            data = pickle.dumps((expires, value), protocol=5)
        except Exception as error:
            log.warning("result not cached (key %r): it cannot be pickled: %s", key, error)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)


def default_store() -> CacheStore:
    """The store under the Proctor home folder (``PROCTOR_HOME/cache``)."""
    from proctor.core.settings import ProctorSettings

    return CacheStore(ProctorSettings().home / "cache")
