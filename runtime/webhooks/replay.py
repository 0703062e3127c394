"""Replay protection: remember delivery ids for a window, so a delivery is accepted once.

A delivery id is *claimed* before its event is published, and marked *answered* once the
server has handed its 2xx to the connection. Only an answered delivery is a replay: a claim
left unanswered (the publish failed, timed out, or the process died before answering) lets
the sender's retry through, and the retry publishes the same event again; its event id is
derived from the delivery id, so JetStream's ``Nats-Msg-Id`` dedup stores it once.

``ReplayGuard`` is the interface; ``InMemoryReplayGuard`` is the single-process one (and the
test harness); the server's durable one is ``replay_kv.JetStreamReplayGuard``.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

__all__ = ("Claim", "DeliveryClaim", "InMemoryReplayGuard", "ReplayGuard", "replay_key")

DEFAULT_MAX_ENTRIES: Final = 100_000


def replay_key(slug: str, delivery_id: str) -> str:
    """A bounded, KV-safe key for ``delivery_id`` of webhook ``slug``."""
    digest = hashlib.sha256(delivery_id.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{slug}.{digest}"


class Claim(StrEnum):
    """What a claim found."""

    NEW = "new"
    """Not seen within its window: publish."""
    UNANSWERED = "unanswered"
    """Claimed before and never answered 2xx (failed, crashed, or still in flight): publish
    again; the same event id keeps one copy."""
    ANSWERED = "answered"
    """Answered 2xx before: a replay."""


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A claimed delivery: its key, and when the guard forgets it."""

    key: str
    expires: datetime


@runtime_checkable
class ReplayGuard(Protocol):
    """Remembers delivery keys for a window, and whether each was answered."""

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> Claim:
        """Record ``key`` as unanswered until ``now + window`` unless it is recorded; say what
        was recorded."""
        ...

    async def answered(self, key: str, *, expires: datetime) -> None:
        """Record that ``key``'s delivery was answered 2xx: from now on it is a replay. Best
        effort (a mark that is lost leaves the claim unanswered: a retry publishes again)."""
        ...


class InMemoryReplayGuard:
    """A ``ReplayGuard`` in one process' memory, holding at most ``max_entries`` keys.

    When full, the keys closest to expiry are forgotten first (replay protection for them
    ends early); size ``max_entries`` above the deliveries expected within a window.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._claims: dict[str, tuple[datetime, bool]] = {}  # key -> (expires, answered)
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._claims)

    async def claim(self, key: str, *, now: datetime, window: timedelta) -> Claim:
        self._expire(now)
        found = self._claims.get(key)
        if found is not None:
            return Claim.ANSWERED if found[1] else Claim.UNANSWERED
        self._put(key, now + window, answered=False)
        return Claim.NEW

    async def answered(self, key: str, *, expires: datetime) -> None:
        self._put(key, expires, answered=True)

    def _put(self, key: str, expires: datetime, *, answered: bool) -> None:
        if key not in self._claims:
            while len(self._claims) >= self._max_entries and self._heap:
                self._pop()
        if self._claims.get(key, (None,))[0] != expires:
            heapq.heappush(self._heap, (expires, key))
        self._claims[key] = (expires, answered)

    def _expire(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._pop()

    def _pop(self) -> None:
        expires, key = heapq.heappop(self._heap)
        found = self._claims.get(key)
        if found is not None and found[0] == expires:
            del self._claims[key]
