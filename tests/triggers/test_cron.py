"""Cron maths: the DST rule as table tests, and a brute-force oracle over random crons/zones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.core.errors import ConfigurationError
from proctor.triggers.schedules import CronSchedule
from tests.triggers.support import utc

NEW_YORK = ZoneInfo("America/New_York")
SPRING = (2026, 3, 8)
FALL = (2026, 11, 1)


def local_day(schedule: CronSchedule, day: tuple[int, int, int]) -> list[datetime]:
    """Every fire time during one local calendar day, in UTC."""
    start = datetime(*day, tzinfo=schedule.zone)
    end = (start + timedelta(days=1)).replace(tzinfo=schedule.zone)
    end = datetime(end.year, end.month, end.day, tzinfo=schedule.zone)
    fires, instant = [], start.astimezone(UTC) - timedelta(microseconds=1)
    while (instant := schedule.next_fire(instant)) < end.astimezone(UTC):
        fires.append(instant)
    return fires


def hours(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(hours=index) for index in range(count)]


@pytest.mark.parametrize(
    ("expression", "day", "expected"),
    [
        # Daily at a fixed time: the gap moves it to the first instant after (03:00 EDT)...
        ("30 2 * * *", SPRING, [utc(2026, 3, 8, 7, 0)]),
        ("30 2 * * *", (2026, 3, 7), [utc(2026, 3, 7, 7, 30)]),
        ("30 2 * * *", (2026, 3, 9), [utc(2026, 3, 9, 6, 30)]),
        ("0 2 * * *", SPRING, [utc(2026, 3, 8, 7, 0)]),
        ("30 1 * * *", SPRING, [utc(2026, 3, 8, 6, 30)]),
        ("30 3 * * *", SPRING, [utc(2026, 3, 8, 7, 30)]),
        # ...and the overlap fires it once, at the first occurrence (01:30 EDT).
        ("30 1 * * *", FALL, [utc(2026, 11, 1, 5, 30)]),
        ("30 1 * * *", (2026, 11, 2), [utc(2026, 11, 2, 6, 30)]),
        ("30 2 * * *", FALL, [utc(2026, 11, 1, 7, 30)]),
        ("0 0 * * *", SPRING, [utc(2026, 3, 8, 5, 0)]),
        ("0 0 * * *", FALL, [utc(2026, 11, 1, 4, 0)]),
        # Several fixed times in one gap collapse into one firing; in the overlap, once each.
        ("0 1-3 * * *", SPRING, [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)]),
        ("0 1-3 * * *", FALL, [utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)]),
        # Hourly (a wildcard hour) follows the real clock: 23 hours, then 25.
        ("0 * * * *", SPRING, hours(utc(2026, 3, 8, 5), 23)),
        ("0 * * * *", FALL, hours(utc(2026, 11, 1, 4), 25)),
        ("30 * * * *", SPRING, hours(utc(2026, 3, 8, 5, 30), 23)),
        ("30 * * * *", FALL, hours(utc(2026, 11, 1, 4, 30), 25)),
        ("@hourly", FALL, hours(utc(2026, 11, 1, 4), 25)),
        ("@daily", SPRING, [utc(2026, 3, 8, 5, 0)]),
    ],
)
def test_dst_rule_in_new_york(
    expression: str, day: tuple[int, int, int], expected: list[datetime]
) -> None:
    assert local_day(CronSchedule(expression, "America/New_York"), day) == expected


def test_every_fifteen_minutes_follows_the_real_clock_through_both_changes() -> None:
    schedule = CronSchedule("*/15 * * * *", "America/New_York")
    for day, count in ((SPRING, 23 * 4), (FALL, 25 * 4)):
        fires = local_day(schedule, day)
        assert len(fires) == count
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(fires))


def test_previous_fire_is_the_inverse_of_next_fire() -> None:
    schedule = CronSchedule("30 1 * * *", "America/New_York")
    assert schedule.previous_fire(utc(2026, 11, 1, 12)) == utc(2026, 11, 1, 5, 30)
    assert schedule.previous_fire(utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 5, 30)
    assert schedule.previous_fire(utc(2026, 11, 1, 5, 29)) == utc(2026, 10, 31, 5, 30)
    yearly = CronSchedule("0 0 1 1 *", "Europe/Paris")
    assert yearly.previous_fire(utc(2026, 6, 1)) == utc(2025, 12, 31, 23)


def test_next_fire_needs_an_aware_datetime() -> None:
    with pytest.raises(ConfigurationError, match="naive"):
        CronSchedule("0 * * * *").next_fire(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "invalid"),
        ("* * * *", "has 4 fields"),
        ("0 0 * * * *", "has 6 fields"),
        ("0 0 31 2 *", "never fires"),
        ("R 0 * * *", "random"),
        ("H * * * *", "hashed"),
        ("", "empty"),
    ],
)
def test_bad_cron_expressions_are_rejected(expression: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        CronSchedule(expression)
    assert caught.value.setting == "cron"


def test_bad_timezone_is_rejected_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="'Mars/Olympus'") as caught:
        CronSchedule("0 0 * * *", "Mars/Olympus")
    assert caught.value.setting == "timezone"


# -- the oracle: check every minute of a window, the slow and obvious way ------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # a +12:45 / +13:45 offset
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "UTC",
]
TRANSITIONS = [
    utc(2026, 3, 8, 7),  # New York spring forward
    utc(2026, 11, 1, 6),  # New York fall back
    utc(2026, 3, 29, 1),  # Europe spring forward
    utc(2026, 10, 25, 1),  # Europe fall back
    utc(2026, 4, 4, 15),  # Lord Howe fall back (02:00 -> 01:30)
    utc(2026, 10, 3, 15, 30),  # Lord Howe spring forward
    utc(2026, 4, 4, 14),  # Chatham fall back
    utc(2026, 9, 26, 14),  # Chatham spring forward
    utc(2018, 11, 4, 2),  # Sao Paulo spring forward (midnight gap)
    utc(2019, 2, 17, 2),  # Sao Paulo fall back
    utc(2026, 7, 1, 12),  # nothing happens
]
FIELDS = st.tuples(
    st.sampled_from(["*", "0", "30", "*/15", "5,35", "0-10/5", "59"]),
    st.sampled_from(["*", "0", "1", "2", "23", "0-3", "*/2", "1,2,3"]),
    st.sampled_from(["*", "1", "4", "1-7", "25-31"]),
    st.sampled_from(["*", "3", "11", "2-4,10-11"]),
    st.sampled_from(["*", "0", "1-5", "6"]),
)


def _matcher(expression: str):
    fields, _ = croniter.expand(expression)
    minutes, hours_, days, months, weekdays = (
        None if field == ["*"] else {int(v) % (7 if i == 4 else 100) for v in field}
        for i, field in enumerate(fields)
    )

    def matches(wall: datetime) -> bool:
        if minutes is not None and wall.minute not in minutes:
            return False
        if hours_ is not None and wall.hour not in hours_:
            return False
        if months is not None and wall.month not in months:
            return False
        day_ok = days is None or wall.day in days
        weekday_ok = weekdays is None or (wall.isoweekday() % 7) in weekdays
        if days is not None and weekdays is not None:
            return day_ok or weekday_ok  # classic cron: either day field may match
        return day_ok and weekday_ok

    return matches


def oracle(expression: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every minute in (start, end] that fires, by the documented rule, checked one by one."""
    matches = _matcher(expression)
    minute, hour = expression.split()[:2]
    fixed = not (minute.startswith("*") or hour.startswith("*"))
    fires: list[datetime] = []
    instant = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    previous_offset = (instant - timedelta(minutes=1)).astimezone(zone).utcoffset()
    while instant <= end:
        local = instant.astimezone(zone)
        offset = local.utcoffset()
        assert offset is not None
        assert previous_offset is not None
        fire = matches(local.replace(tzinfo=None)) and not (fixed and local.fold == 1)
        if fixed and offset > previous_offset:  # the wall clock jumped: the gap's times fire now
            gap = (instant + previous_offset).replace(tzinfo=None)
            while gap < (instant + offset).replace(tzinfo=None):
                fire = fire or matches(gap)
                gap += timedelta(minutes=1)
        if fire:
            fires.append(instant)
        previous_offset = offset
        instant += timedelta(minutes=1)
    return fires


@settings(max_examples=60, deadline=None)
@given(
    fields=FIELDS,
    zone=st.sampled_from(ZONES),
    around=st.sampled_from(TRANSITIONS),
    shift_minutes=st.integers(min_value=-30 * 60, max_value=6 * 60),
)
def test_next_fire_agrees_with_a_brute_force_oracle(
    fields: tuple[str, ...], zone: str, around: datetime, shift_minutes: int
) -> None:
    expression = " ".join(fields)
    schedule = CronSchedule(expression, zone)
    start = around + timedelta(minutes=shift_minutes, seconds=17)
    end = start + timedelta(hours=36)
    fires, instant = [], start
    while (instant := schedule.next_fire(instant)) <= end:
        fires.append(instant)
    assert fires == oracle(expression, schedule.zone, start, end)
