"""The wall clock, for the automation engine (only the runtime reads it)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Final

__all__ = ("SystemEngineClock",)

_LONGEST_SLEEP_S: Final = 60.0
"""Sleep at most this long at once, so a jump of the system clock is noticed."""


class SystemEngineClock:
    """``EngineClock`` on the system's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        timeout = _LONGEST_SLEEP_S
        if deadline is not None:
            timeout = min(timeout, max((deadline - self.now()).total_seconds(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
