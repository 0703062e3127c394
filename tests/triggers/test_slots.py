"""Interval maths, slot ids and the catch-up plan."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from proctor.core.errors import ConfigurationError
from proctor.triggers.schedules import (
    CatchUp,
    CronSchedule,
    IntervalSchedule,
    SkippedSlots,
    plan_slots,
    slot_id,
)
from tests.triggers.support import utc


def test_interval_fires_on_the_grid_through_its_anchor() -> None:
    schedule = IntervalSchedule(timedelta(minutes=10), utc(2026, 1, 1, 0, 3))
    assert schedule.next_fire(utc(2026, 5, 5, 12, 0)) == utc(2026, 5, 5, 12, 3)
    assert schedule.next_fire(utc(2026, 5, 5, 12, 3)) == utc(2026, 5, 5, 12, 13)
    assert schedule.next_fire(utc(2025, 12, 31, 23, 59)) == utc(2026, 1, 1, 0, 3)  # before anchor
    assert schedule.previous_fire(utc(2026, 5, 5, 12, 3)) == utc(2026, 5, 5, 12, 3)
    assert schedule.previous_fire(utc(2026, 5, 5, 12, 2)) == utc(2026, 5, 5, 11, 53)


def test_interval_without_anchor_fires_on_whole_hours_utc() -> None:
    assert IntervalSchedule(timedelta(hours=1)).next_fire(utc(2026, 3, 8, 6, 59)) == utc(
        2026, 3, 8, 7
    )


def test_interval_is_elapsed_time_across_dst() -> None:
    daily = IntervalSchedule(timedelta(days=1), utc(2026, 3, 7, 14))  # 09:00 EST
    assert daily.next_fire(utc(2026, 3, 7, 14)) == utc(2026, 3, 8, 14)  # 10:00 EDT


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-1)])
def test_interval_must_be_positive(every: timedelta) -> None:
    with pytest.raises(ConfigurationError, match="every must be positive"):
        IntervalSchedule(every)


def test_slot_ids_are_deterministic_and_distinct() -> None:
    slot = utc(2026, 3, 8, 7)
    same_instant = slot.astimezone(CronSchedule("0 * * * *", "America/New_York").zone)
    assert slot_id("deployment-1", slot) == slot_id("deployment-1", same_instant)
    assert slot_id("deployment-1", slot) != slot_id("deployment-2", slot)
    assert slot_id("deployment-1", slot) != slot_id("deployment-1", slot + timedelta(hours=1))
    with pytest.raises(ValueError, match="naive"):
        slot_id("deployment-1", datetime(2026, 3, 8, 7))


HOURLY = IntervalSchedule(timedelta(hours=1))


def test_on_time_slots_fire_whatever_the_policy() -> None:
    for policy in ("skip", "once", "all"):
        plan = plan_slots(
            HOURLY, utc(2026, 1, 1, 9, 30), utc(2026, 1, 1, 10, 0, 20), CatchUp(policy=policy)
        )
        assert plan.fire == (utc(2026, 1, 1, 10),)
        assert plan.skipped is None
        assert plan.handled_until == utc(2026, 1, 1, 10, 0, 20)


def test_nothing_due_is_an_empty_plan() -> None:
    plan = plan_slots(HOURLY, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 59), CatchUp())
    assert plan.fire == ()
    assert plan.skipped is None
    assert plan.handled_until == utc(2026, 1, 1, 10, 59)


DOWN_FROM, BACK_AT = utc(2026, 1, 1, 9, 30), utc(2026, 1, 1, 15, 10)  # missed 10:00 .. 15:00


def test_skip_records_missed_slots_and_fires_none() -> None:
    plan = plan_slots(HOURLY, DOWN_FROM, BACK_AT, CatchUp(policy="skip"))
    assert plan.fire == ()
    assert plan.skipped == SkippedSlots(utc(2026, 1, 1, 10), utc(2026, 1, 1, 15))
    assert plan.handled_until == BACK_AT


def test_once_fires_the_latest_missed_slot_and_records_the_rest() -> None:
    plan = plan_slots(HOURLY, DOWN_FROM, BACK_AT, CatchUp(policy="once"))
    assert plan.fire == (utc(2026, 1, 1, 15),)
    assert plan.skipped == SkippedSlots(utc(2026, 1, 1, 10), utc(2026, 1, 1, 14))


def test_all_fires_every_missed_slot_within_the_window() -> None:
    plan = plan_slots(HOURLY, DOWN_FROM, BACK_AT, CatchUp(policy="all", window=timedelta(hours=3)))
    assert plan.fire == (utc(2026, 1, 1, 13), utc(2026, 1, 1, 14), utc(2026, 1, 1, 15))
    assert plan.skipped == SkippedSlots(utc(2026, 1, 1, 10), utc(2026, 1, 1, 12))
    unlimited = plan_slots(HOURLY, DOWN_FROM, BACK_AT, CatchUp(policy="all"))
    assert len(unlimited.fire) == 6
    assert unlimited.skipped is None


def test_all_fires_at_most_limit_and_continues_where_it_stopped() -> None:
    catch_up = CatchUp(policy="all")
    first = plan_slots(HOURLY, DOWN_FROM, BACK_AT, catch_up, limit=4)
    assert first.fire == tuple(utc(2026, 1, 1, hour) for hour in (10, 11, 12, 13))
    assert first.handled_until == utc(2026, 1, 1, 13)
    second = plan_slots(HOURLY, first.handled_until, BACK_AT, catch_up, limit=4)
    assert second.fire == (utc(2026, 1, 1, 14), utc(2026, 1, 1, 15))
    assert second.handled_until == BACK_AT


def test_catch_up_rejects_negative_durations() -> None:
    with pytest.raises(ValueError, match="grace"):
        CatchUp(grace=timedelta(seconds=-1))
