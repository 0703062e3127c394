"""Interval schedules: every ``every``, on a grid through ``anchor``, in absolute time.

An interval is elapsed time, not wall-clock time: ``every=1 day`` fires every 24 hours, so its
local time shifts by an hour across a daylight-saving change. Use a cron schedule in a zone for
"every day at 09:00 local time".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from proctor.core.errors import ConfigurationError
from proctor.triggers.schedules.cron import _aware_utc

__all__ = ("DEFAULT_ANCHOR", "MAX_INTERVAL", "IntervalSchedule")

DEFAULT_ANCHOR: Final = datetime(2000, 1, 1, tzinfo=UTC)
MAX_INTERVAL: Final = timedelta(days=366 * 100)
"""The longest interval a schedule may have (its slots must stay within datetime's range)."""
"""The grid's origin when none is given: intervals of whole hours fire on the hour, UTC."""


class IntervalSchedule:
    """Fire times ``anchor + k * every`` for every integer ``k``."""

    __slots__ = ("anchor", "every")

    def __init__(self, every: timedelta, anchor: datetime | None = None) -> None:
        if every <= timedelta(0):
            raise ConfigurationError(f"every must be positive, not {every}", setting="every")
        self.every = every
        self.anchor = DEFAULT_ANCHOR if anchor is None else _aware_utc(anchor, "anchor")

    def __repr__(self) -> str:
        return f"IntervalSchedule(every={self.every!r}, anchor={self.anchor.isoformat()!r})"

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after`` (aware), in UTC."""
        steps = (_aware_utc(after, "after") - self.anchor) // self.every
        return self.anchor + (steps + 1) * self.every

    def previous_fire(self, at_or_before: datetime) -> datetime | None:
        """The last fire time at or before ``at_or_before`` (aware), in UTC."""
        steps = (_aware_utc(at_or_before, "at_or_before") - self.anchor) // self.every
        return self.anchor + steps * self.every
