"""The engine's clock: where retry delays and jitter come from.

Only the runtime reads the wall clock. Tests swap in a ``FakeClock`` with ``use_clock(...)``:
it records each delay the engine asks for and returns at once, so a test asserts delays
without waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

__all__ = ("Clock", "FakeClock", "SystemClock", "current_clock", "use_clock")


class Clock(Protocol):
    """What the engine needs from time: the present, waiting, and randomness for jitter."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (from sync code)."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Wait ``seconds`` (from async code)."""
        ...

    def random(self) -> float:
        """A number in [0, 1) for jitter."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    def random(self) -> float:
        return random.random()


class FakeClock:
    """A clock that jumps instead of waiting; ``sleeps`` lists every delay asked for, in order."""

    def __init__(self, start: datetime | None = None, *, seed: int = 0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._random = random.Random(seed)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def random(self) -> float:
        return self._random.random()


C = TypeVar("C", bound=Clock)
_SYSTEM = SystemClock()
_clock: ContextVar[Clock] = ContextVar("proctor_clock", default=_SYSTEM)


def current_clock() -> Clock:
    """The clock in force here (the wall clock unless ``use_clock`` set another)."""
    return _clock.get()


@contextlib.contextmanager
def use_clock(clock: C) -> Iterator[C]:
    """Run flows and tasks inside this block on ``clock``."""
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)
