"""Schedule maths shared by cron/interval triggers and the runtime's scheduler.

Pure functions of an instant, in UTC: the next and previous fire times of a cron expression in
an IANA zone (with a documented rule for daylight-saving gaps and overlaps, see
``proctor.triggers.schedules.cron`` and docs/schedules.md) or of an interval, deterministic slot
ids, and the catch-up plan for slots missed while nothing was running.
"""

from proctor.triggers.schedules.cron import CronSchedule, validate_cron, validate_timezone
from proctor.triggers.schedules.fields import CronExpression, TimeZoneName
from proctor.triggers.schedules.interval import DEFAULT_ANCHOR, MAX_INTERVAL, IntervalSchedule
from proctor.triggers.schedules.slots import (
    MAX_SLOTS_PER_PLAN,
    CatchUp,
    Schedule,
    SkippedSlots,
    SlotPlan,
    plan_slots,
    slot_id,
)

__all__ = (
    "DEFAULT_ANCHOR",
    "MAX_INTERVAL",
    "MAX_SLOTS_PER_PLAN",
    "CatchUp",
    "CronExpression",
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "SkippedSlots",
    "SlotPlan",
    "TimeZoneName",
    "plan_slots",
    "slot_id",
    "validate_cron",
    "validate_timezone",
)
