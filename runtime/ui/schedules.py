"""``GET /ui/next-fires``: when a schedule fires next, for the UI's deployments page.

Deployments store schedules as data (``{"cron", "timezone"}`` or ``{"interval_s",
"anchor"}``); their next fire times come from the same schedule maths the scheduler uses
(``proctor.triggers.schedules``, with its daylight-saving rule), not from a second copy in
JavaScript. Pure computation on the query: it reads no server data, so it needs no token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from proctor.core.errors import ConfigurationError
from proctor.triggers.schedules import CronSchedule, IntervalSchedule, Schedule

__all__ = ("NextFires", "next_fires", "schedules_router")

MAX_COUNT = 10


class NextFires(BaseModel):
    """The next fire times of one schedule, in UTC, soonest first."""

    fires: list[datetime] = Field(description="Strictly after `after`, soonest first.")


def next_fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` fire times of ``schedule`` strictly after ``after``."""
    fires: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = schedule.next_fire(moment)
        fires.append(moment)
    return fires


def _schedule(
    cron: str | None, timezone: str, interval_s: float | None, anchor: datetime | None
) -> Schedule:
    if (cron is None) == (interval_s is None):
        raise ConfigurationError("give either cron (with timezone) or interval_s", setting="cron")
    if cron is not None:
        return CronSchedule(cron, timezone)
    assert interval_s is not None
    if interval_s <= 0:
        raise ConfigurationError(
            f"interval_s must be positive, not {interval_s}", setting="interval_s"
        )
    return IntervalSchedule(timedelta(seconds=interval_s), anchor)


def schedules_router() -> APIRouter:
    router = APIRouter(tags=["ui"])

    @router.get("/ui/next-fires", summary="The next fire times of a cron or interval schedule")
    async def read_next_fires(
        cron: Annotated[str | None, Query(description="Cron expression.")] = None,
        timezone: Annotated[str, Query(description="IANA zone of the cron.")] = "UTC",
        interval_s: Annotated[float | None, Query(description="Seconds between fires.")] = None,
        anchor: Annotated[datetime | None, Query(description="An instant on the grid.")] = None,
        count: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 3,
        after: Annotated[datetime | None, Query(description="Default: now.")] = None,
    ) -> NextFires:
        start = after if after is not None else datetime.now(UTC)
        try:
            return NextFires(
                fires=next_fires(_schedule(cron, timezone, interval_s, anchor), start, count)
            )
        except OverflowError:
            raise ConfigurationError(
                "the schedule's next fire times fall outside the years 1-9999",
                setting="interval_s" if interval_s is not None else "after",
            ) from None

    return router
