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
_high = 0  # the timestamp, version and variant bits of ``_last_ms``'s ids
_POOL_BYTES = 64 * 1024
_pool = array("Q")
_RAND_B = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_new, _set, _UNKNOWN = object.__new__, object.__setattr__, uuid.SafeUUID.unknown
_time_ns, _UUID = time.time_ns, uuid.UUID


def _refill() -> int:
    """64 random bits from a fresh pool: ``os.urandom`` read 64 KiB at a time (call with
    ``_lock`` held).

    One system call per ~2,700 ids instead of two per id: a system call releases the GIL,
    and under load every release can cost a thread-switch interval (the flow engine makes ids
    on its hot path while the bus thread publishes).
    """
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
    global _last_ms, _counter, _high
    with _lock:  # the pool is drawn from inline (``_pool.pop() if _pool``): no call per id
        ms = _time_ns() // 1_000_000 if now_ms is None else now_ms
        if ms > _last_ms:
            _last_ms = ms
            _counter = (_pool.pop() if _pool else _refill()) & 0x7FF
            _high = ((ms & 0xFFFF_FFFF_FFFF) << 80) | _VERSION_AND_VARIANT
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = (_pool.pop() if _pool else _refill()) & 0x7FF
                _high = ((_last_ms & 0xFFFF_FFFF_FFFF) << 80) | _VERSION_AND_VARIANT
        value = _high | (_counter << 64) | ((_pool.pop() if _pool else _refill()) & _RAND_B)
    # ``UUID(int=value)`` less its argument checks (half the cost): the value is in range by
    # construction. Python 3.14's ``UUID._from_int`` does the same.
    made = _new(_UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made
