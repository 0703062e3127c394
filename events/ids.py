"""Time-ordered event ids (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from array import array

__all__ = ("uuid7",)

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_POOL_BYTES = 64 * 1024
_pool = array("Q")
_RAND_B = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_new, _set, _UNKNOWN = object.__new__, object.__setattr__, uuid.SafeUUID.unknown


def _random64() -> int:
    """64 random bits from ``os.urandom``, read 64 KiB at a time (call with ``_lock`` held).

    One system call per ~2,700 ids instead of two per id: a system call releases the GIL,
    and under load every release can cost a thread-switch interval (the flow engine makes ids
    on its hot path while the bus thread publishes).
    """
    if not _pool:
        _pool.frombytes(os.urandom(_POOL_BYTES))
    return _pool.pop()


def _forget_pool() -> None:
    del _pool[:]  # a forked child must not replay its parent's random bytes


os.register_at_fork(after_in_child=_forget_pool)


def uuid7(*, now_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7. Ids made in one process sort in the order they were made.

    Within one millisecond, a 12-bit counter (seeded at random) keeps the order; if it runs
    out, the timestamp is advanced by one millisecond, as RFC 9562 allows.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = _random64() & 0x7FF
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = _random64() & 0x7FF
        counter = _counter
        rand_b = _random64() & _RAND_B
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | _VERSION_AND_VARIANT | (counter << 64) | rand_b
    # ``UUID(int=value)`` less its argument checks (half the cost): the value is in range by
    # construction. Python 3.14's ``UUID._from_int`` does the same.
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made
