"""Pace requests per destination: a FIFO lane per key, at most one request per interval.

Slack accepts about one message per second per webhook URL. A ``Pacer`` gives each key
(a URL's fingerprint) a lane: callers queue in arrival order, every attempt waits for its
turn, and a ``Retry-After`` (or a backoff) pushes the lane's next turn later for everyone
queued behind. The clock and the sleep are injected, so tests jump time instead of waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, TypeAlias

__all__ = ("Clock", "Lane", "Pacer", "Sleep")

Clock: TypeAlias = Callable[[], float]
"""Monotonic seconds."""
Sleep: TypeAlias = Callable[[float], Awaitable[None]]
_PRUNE_ABOVE: Final = 256


class Lane:
    """One key's turn-taking, held by one caller at a time (see ``Pacer.lane``)."""

    __slots__ = ("_pacer", "lock", "next_at", "users")

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer
        self.lock = asyncio.Lock()
        self.next_at = float("-inf")
        self.users = 0

    async def turn(self) -> None:
        """Wait until this lane may send, then book the next turn one interval later."""
        delay = self.next_at - self._pacer.clock()
        if delay > 0:
            await self._pacer.sleep(delay)
        self.next_at = self._pacer.clock() + self._pacer.interval_s

    def defer(self, seconds: float) -> None:
        """Make the next turn wait at least ``seconds`` from now (Retry-After, backoff)."""
        self.next_at = max(self.next_at, self._pacer.clock() + seconds)


class Pacer:
    """Per-key lanes with at most one turn per ``interval_s``."""

    def __init__(
        self,
        interval_s: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.sleep = sleep
        self._lanes: dict[str, Lane] = {}

    @asynccontextmanager
    async def lane(self, key: str) -> AsyncIterator[Lane]:
        """Hold ``key``'s lane (waiting behind earlier callers); call ``turn()`` per attempt."""
        if len(self._lanes) > _PRUNE_ABOVE:
            self._prune()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self)
        lane.users += 1
        try:
            async with lane.lock:
                yield lane
        finally:
            lane.users -= 1

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, lane in self._lanes.items() if not lane.users and lane.next_at <= now]:
            del self._lanes[key]
