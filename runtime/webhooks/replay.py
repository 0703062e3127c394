"""Replay protection: remember delivery ids for a window, so a delivery is accepted once.

``ReplayGuard`` is the interface; ``InMemoryReplayGuard`` is the single-process one (and
the test harness); the server provides a durable one (a NATS KV ``create()`` is an atomic
claim). The server claims a delivery after verifying it and *releases* it if the event
could not be published, so the sender's retry is accepted.
"""

from __future__ import annotations

import hashlib
import heapq
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

__all__ = ("InMemoryReplayGuard", "ReplayGuard", "replay_key")

DEFAULT_MAX_ENTRIES: Final = 100_000


def replay_key(slug: str, delivery_id: str) -> str:
    """A bounded, KV-safe key for ``delivery_id`` of webhook ``slug``."""
    digest = hashlib.sha256(delivery_id.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{slug}.{digest}"


@runtime_checkable
class ReplayGuard(Protocol):
    """Remembers delivery keys for a window."""

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> bool:
        """Record ``key`` until ``now + window``; ``False`` if it is already recorded."""
        ...

    async def release(self, key: str) -> None:
        """Forget ``key`` (its event was not published: the sender's retry must pass)."""
        ...


class InMemoryReplayGuard:
    """A ``ReplayGuard`` in one process' memory, holding at most ``max_entries`` keys.

    When full, the keys closest to expiry are forgotten first (replay protection for them
    ends early); size ``max_entries`` above the deliveries expected within a window.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._expiry: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> bool:
        self._expire(now)
        if key in self._expiry:
            return False
        while len(self._expiry) >= self._max_entries and self._heap:
            self._pop()
        expires = now + window
        self._expiry[key] = expires
        heapq.heappush(self._heap, (expires, key))
        return True

    async def release(self, key: str) -> None:
        self._expiry.pop(key, None)

    def _expire(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._pop()

    def _pop(self) -> None:
        expires, key = heapq.heappop(self._heap)
        if self._expiry.get(key) == expires:
            del self._expiry[key]
