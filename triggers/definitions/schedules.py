"""``CronTrigger`` and ``IntervalTrigger``: fire on the clock, through the shared schedule maths."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.triggers.schedules import (
    MAX_INTERVAL,
    CatchUp,
    CronExpression,
    CronSchedule,
    IntervalSchedule,
    TimeZoneName,
)

__all__ = ("CronTrigger", "IntervalTrigger")


class CronTrigger(BaseModel):
    """Fires at the times of a cron expression in an IANA zone (DST rule: docs/schedules.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["cron"] = Field(default="cron", description="Discriminator: 'cron'.")
    cron: CronExpression = Field(
        description="Five-field cron expression (minute hour day-of-month month day-of-week) "
        "or an alias such as '@daily'."
    )
    timezone: TimeZoneName = Field(
        default="UTC", description="IANA time zone the expression's wall-clock times are in."
    )
    catch_up: CatchUp = Field(
        default_factory=CatchUp, description="What to do with slots missed while nothing ran."
    )

    def schedule(self) -> CronSchedule:
        """The schedule maths for this trigger."""
        return CronSchedule(self.cron, self.timezone)


class IntervalTrigger(BaseModel):
    """Fires every ``every``, on the grid ``anchor + k * every`` (elapsed time, not wall time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["interval"] = Field(default="interval", description="Discriminator: 'interval'.")
    every: timedelta = Field(description="Time between firings; positive.")
    anchor: datetime | None = Field(
        default=None,
        description="An instant on the grid (timezone-aware); none: 2000-01-01T00:00:00Z, so "
        "whole hours fire on the hour.",
    )
    catch_up: CatchUp = Field(
        default_factory=CatchUp, description="What to do with slots missed while nothing ran."
    )

    @field_validator("every", mode="after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be positive, not {value}")
        if value > MAX_INTERVAL:
            raise ValueError(f"must be at most {MAX_INTERVAL.days} days, not {value}")
        return value

    @field_validator("anchor", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("naive datetime: give a timezone-aware one, e.g. with tzinfo=UTC")
        return value

    def schedule(self) -> IntervalSchedule:
        """The schedule maths for this trigger."""
        return IntervalSchedule(self.every, self.anchor)
