"""Slots: the fire times of a schedule, each with a deterministic id, and the catch-up policy.

A *slot* is one fire time of one schedule. Its id is a UUIDv5 of the schedule id and the
instant, so every scheduler replica derives the same id for the same slot and a store that
dedupes on it creates each slot once (DESIGN §5.3).

``plan_slots`` is the one function that decides what is due at ``now``: slots at most
``grace`` late are on time and always fire; older ones were missed (the scheduler was down)
and the ``CatchUp`` policy decides: ``skip`` them, fire the latest ``once``, or fire ``all``
of those within ``window`` (at most ``limit`` per call, oldest first: call again to continue).
Whatever is not fired is returned as a skipped range, to be recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = (
    "MAX_SLOTS_PER_PLAN",
    "SLOT_NAMESPACE",
    "CatchUp",
    "Schedule",
    "SkippedSlots",
    "SlotPlan",
    "plan_slots",
    "slot_id",
)

SLOT_NAMESPACE: Final = uuid.UUID("5b0c5d3e-8f55-4c34-9a39-6a4f1d7e2c10")
MAX_SLOTS_PER_PLAN: Final = 1000


class Schedule(Protocol):
    """What ``CronSchedule`` and ``IntervalSchedule`` share: pure functions of an instant."""

    def next_fire(self, after: datetime) -> datetime: ...

    def previous_fire(self, at_or_before: datetime) -> datetime | None: ...


def slot_id(schedule_id: str, slot: datetime) -> uuid.UUID:
    """The id of the slot at ``slot`` (aware) of the schedule ``schedule_id``; deterministic."""
    if slot.tzinfo is None or slot.utcoffset() is None:
        raise ValueError(f"slot {slot.isoformat()}: naive datetime; give a timezone-aware one")
    instant = slot.astimezone(UTC).isoformat(timespec="microseconds")
    return uuid.uuid5(SLOT_NAMESPACE, f"{schedule_id}\x1f{instant}")


class CatchUp(BaseModel):
    """What to do with slots missed while no scheduler was running."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Literal["skip", "once", "all"] = Field(
        default="once",
        description="'skip': record missed slots and fire none of them; 'once': fire the "
        "latest missed slot and record the others; 'all': fire every missed slot within "
        "`window`.",
    )
    window: timedelta | None = Field(
        default=None,
        description="For 'all': only slots missed by at most this long fire (none: no limit).",
    )
    grace: timedelta = Field(
        default=timedelta(minutes=1),
        description="A slot at most this late is on time and fires whatever the policy.",
    )

    @field_validator("window", "grace", mode="after")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"must not be negative, not {value}")
        return value


@dataclass(frozen=True, slots=True)
class SkippedSlots:
    """A run of consecutive slots that were missed and not fired: ``first`` to ``last``."""

    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """What is due: slots to fire (oldest first), slots skipped, and the new high-water mark."""

    fire: tuple[datetime, ...]
    skipped: SkippedSlots | None
    handled_until: datetime
    """Every slot at or before this is fired or skipped. Before ``now`` when ``limit`` cut the
    plan short: plan again at once from here."""


def _slots(schedule: Schedule, after: datetime, until: datetime, limit: int) -> list[datetime]:
    found: list[datetime] = []
    fire = schedule.next_fire(after)
    while fire <= until and len(found) < limit:
        found.append(fire)
        fire = schedule.next_fire(fire)
    return found


def _skipped(schedule: Schedule, after: datetime, until: datetime) -> SkippedSlots | None:
    """The slots in ``(after, until]`` as a range, or ``None`` if there are none."""
    first = schedule.next_fire(after)
    if first > until:
        return None
    last = schedule.previous_fire(until)
    assert last is not None
    return SkippedSlots(first, last)


def plan_slots(
    schedule: Schedule,
    handled_until: datetime,
    now: datetime,
    catch_up: CatchUp,
    *,
    limit: int = MAX_SLOTS_PER_PLAN,
) -> SlotPlan:
    """Which slots in ``(handled_until, now]`` fire and which are skipped, by ``catch_up``.

    Pure: the same arguments give the same plan on every replica. At most ``limit`` slots
    fire; if more are due, ``handled_until`` stops at the last one and the rest wait for the
    next call.
    """
    if now <= handled_until:
        return SlotPlan((), None, handled_until)
    on_time_from = max(handled_until, now - catch_up.grace)
    fire: list[datetime] = []
    skipped: SkippedSlots | None = None
    if on_time_from > handled_until:  # some slots may have been missed
        if catch_up.policy == "all":
            window_start = handled_until
            if catch_up.window is not None:
                window_start = max(handled_until, now - catch_up.window)
            skipped = _skipped(schedule, handled_until, window_start)
            fire = _slots(schedule, window_start, on_time_from, limit)
        else:
            skipped = _skipped(schedule, handled_until, on_time_from)
            if skipped is not None and catch_up.policy == "once":
                fire = [skipped.last]
                before_latest = skipped.last - timedelta(microseconds=1)
                skipped = _skipped(schedule, handled_until, before_latest)
    if len(fire) >= limit:
        return SlotPlan(tuple(fire), skipped, fire[-1])
    on_time = _slots(schedule, on_time_from, now, limit - len(fire))
    fire.extend(on_time)
    if len(fire) >= limit and on_time:
        return SlotPlan(tuple(fire), skipped, fire[-1])
    return SlotPlan(tuple(fire), skipped, now)
