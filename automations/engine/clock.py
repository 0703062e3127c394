"""The engine's clock: the present, and sleeping until a deadline (or until woken).

Only the runtime reads the wall clock: it passes a clock in. ``ManualClock`` is the test
harness: time moves when a test calls ``advance``, which wakes every sleeper whose deadline
has come, so a test of a cron slot or an absence window jumps instead of waiting.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ("EngineClock", "ManualClock")


class EngineClock(Protocol):
    """What the engine needs from time."""

    def now(self) -> datetime:
        """The present, aware, in UTC."""
        ...

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        """Return when ``deadline`` has come (never, if ``None``) or ``wake`` is set."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (retry backoff)."""
        ...


class ManualClock:
    """A clock that moves only when told to: ``advance(timedelta)`` or ``set(datetime)``.

    ``sleep_until`` may return early (when time moves, or ``wake`` is set): callers check
    the time again, as they must with any clock.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("ManualClock start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._sleepers: set[asyncio.Event] = set()

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Move to ``when`` (never backwards) and wake every sleeper to look at the time."""
        self._now = max(self._now, when.astimezone(UTC))
        for sleeper in list(self._sleepers):
            sleeper.set()

    def advance(self, by: timedelta) -> None:
        """Move forward by ``by``."""
        self.set(self._now + by)

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        if wake.is_set() or (deadline is not None and self._now >= deadline):
            return
        self._sleepers.add(wake)
        try:
            await wake.wait()
        finally:
            self._sleepers.discard(wake)

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=seconds)
        while self._now < deadline:
            await self.sleep_until(deadline, asyncio.Event())
