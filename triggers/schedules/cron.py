"""Cron schedules in an IANA time zone, as pure functions of an instant, in UTC.

A cron expression describes *wall-clock* times in its zone. Two days a year (in zones with
daylight saving time) the wall clock skips an hour (spring forward: 02:30 does not exist) or
repeats one (fall back: 01:30 happens twice). The rule, which is Vixie cron's (the cron most
Linux machines run), depends on whether the schedule names fixed times:

- **Fixed-time** schedules (the minute and the hour fields both start with something other
  than ``*``, e.g. ``30 2 * * *``, ``0 9,17 * * 1-5``): every matching wall-clock time fires
  exactly once. A time in a gap fires at the first instant after the gap (``30 2 * * *`` fires
  at 03:00 EDT on 2026-03-08); several times in one gap collapse into that one firing. A time in
  an overlap fires at its first occurrence only (``30 1 * * *`` fires at 01:30 EDT on
  2026-11-01, not again at 01:30 EST).
- **Wildcard** schedules (the minute or the hour field starts with ``*``, e.g. ``0 * * * *``,
  ``*/15 * * * *``, ``* 9 * * *``): they follow the real clock. A time that does not exist is
  skipped; a time that happens twice fires twice. ``0 * * * *`` fires 23 times on 2026-03-08 and
  25 times on 2026-11-01 in America/New_York: every real hour.

The search walks the instants between zone offset changes (found by probing the zone once a
day and bisecting: every zone in tzdata since 1970 keeps its offset for at least 6 days), asks
croniter for the next matching wall-clock time within each stretch, and applies the rule at
each change. ``R`` (random) and ``H`` (hashed) fields are rejected: several replicas must
compute the same times. Only five-field expressions (and ``@hourly``-style aliases) are valid.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from proctor.core.errors import ConfigurationError

__all__ = ("CronSchedule", "validate_cron", "validate_timezone")

_ALIASES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NONDETERMINISTIC: Final = re.compile(r"(?<![A-Za-z])[HRhr](?![A-Za-z])")
_DAY: Final = timedelta(days=1)
_TICK: Final = timedelta(microseconds=1)
_SEARCH_LIMIT: Final = timedelta(days=366 * 30)
_REFERENCE: Final = datetime(2000, 1, 1)


def validate_timezone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA zone name; ``ConfigurationError`` naming it otherwise."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(
            f"timezone {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Paris', "
            "'America/New_York')",
            setting="timezone",
        ) from None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    if not name or name != name.strip():
        raise ValueError(name)
    return ZoneInfo(name)


def validate_cron(expression: str) -> str:
    """The normalised five-field form of ``expression``; ``ConfigurationError`` if invalid."""
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigurationError("cron expression is empty", setting="cron")
    text = " ".join(expression.split())
    text = _ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ConfigurationError(
            f"cron expression {expression!r} has {len(fields)} field"
            f"{'' if len(fields) == 1 else 's'}; give five (minute hour "
            "day-of-month month day-of-week) or an alias such as '@daily'",
            setting="cron",
        )
    if _NONDETERMINISTIC.search(text):
        raise ConfigurationError(
            f"cron expression {expression!r} uses a random ('R') or hashed ('H') field; "
            "schedules must give the same times on every replica",
            setting="cron",
        )
    try:
        croniter(text, _REFERENCE).get_next(datetime)
    except CroniterBadDateError:
        raise ConfigurationError(
            f"cron expression {expression!r} never fires (e.g. a day that no month has)",
            setting="cron",
        ) from None
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as error:
        raise ConfigurationError(
            f"cron expression {expression!r} is invalid: {error}", setting="cron"
        ) from None
    return text


def _offset(zone: tzinfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


class CronSchedule:
    """The fire times of a cron expression in a zone. Immutable; safe to share across threads."""

    __slots__ = ("_iterator", "_lock", "expression", "fixed", "timezone", "zone")

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = validate_cron(expression)
        self.timezone = timezone
        self.zone = validate_timezone(timezone)
        minute, hour = self.expression.split(" ")[:2]
        self.fixed = not (minute.startswith("*") or hour.startswith("*"))
        self._iterator = croniter(self.expression, _REFERENCE)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, timezone={self.timezone!r})"

    def _local_next(self, wall: datetime, *, inclusive: bool) -> datetime:
        """The first matching naive wall-clock time after ``wall`` (or at it, if inclusive)."""
        with self._lock:
            self._iterator.set_current(wall - _TICK if inclusive else wall, force=True)
            found: datetime = self._iterator.get_next(datetime)
        return found

    def _change_within(self, start: datetime, end: datetime) -> datetime | None:
        """The first instant in ``(start, end]`` whose offset differs from ``start``'s."""
        offset = _offset(self.zone, start)
        probe = start
        while probe < end:
            step = min(probe + _DAY, end)
            if _offset(self.zone, step) != offset:
                low, high = probe, step
                while high - low > _TICK:
                    middle = low + (high - low) // 2
                    if _offset(self.zone, middle) == offset:
                        low = middle
                    else:
                        high = middle
                return high
            probe = step
        return None

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after ``after`` (aware), in UTC."""
        start = _aware_utc(after, "after")
        instant, inclusive = start, False
        while instant - start < _SEARCH_LIMIT:
            local = instant.astimezone(self.zone)
            offset = local.utcoffset()
            assert offset is not None
            wall = self._local_next(local.replace(tzinfo=None, fold=0), inclusive=inclusive)
            candidate = (wall - offset).replace(tzinfo=UTC)
            change = self._change_within(instant, candidate)
            if change is None:
                if self.fixed and candidate.astimezone(self.zone).fold == 1:
                    instant, inclusive = candidate, False  # second occurrence of a wall time
                    continue
                return candidate
            new_offset = _offset(self.zone, change)
            if self.fixed and new_offset > offset:  # a gap: wall times that do not exist
                gap_start = (change + offset).replace(tzinfo=None)
                gap_end = (change + new_offset).replace(tzinfo=None)
                if self._local_next(gap_start, inclusive=True) < gap_end:
                    return change
            instant, inclusive = change, True
        raise ConfigurationError(  # pragma: no cover - validate_cron rejects never-firing crons
            f"cron expression {self.expression!r} does not fire within 30 years of {after}",
            setting="cron",
        )

    def previous_fire(self, at_or_before: datetime) -> datetime | None:
        """The last fire time at or before ``at_or_before``; ``None`` if none within 30 years."""
        end = _aware_utc(at_or_before, "at_or_before")
        reach = timedelta(minutes=1)
        while reach <= _SEARCH_LIMIT:
            fire = self.next_fire(end - reach)
            if fire <= end:
                while (following := self.next_fire(fire)) <= end:
                    fire = following
                return fire
            reach *= 2
        return None


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(
            f"{name}: naive datetime {value.isoformat()}; give a timezone-aware one",
            setting=name,
        )
    return value.astimezone(UTC)
