"""Pydantic field types for schedules: a cron expression and an IANA time-zone name, each
validated once here for every model that holds one (deployment schedules, cron triggers)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from proctor.core.errors import ConfigurationError
from proctor.triggers.schedules.cron import validate_cron, validate_timezone

__all__ = ("CronExpression", "TimeZoneName")


def _valid_cron(value: str) -> str:
    try:
        validate_cron(value)
    except ConfigurationError as error:
        raise ValueError(str(error)) from None
    return value


def _valid_timezone(value: str) -> str:
    try:
        validate_timezone(value)
    except ConfigurationError as error:
        raise ValueError(str(error)) from None
    return value


CronExpression = Annotated[str, AfterValidator(_valid_cron)]
"""A five-field cron expression or an alias such as ``@daily`` (kept as written)."""

TimeZoneName = Annotated[str, AfterValidator(_valid_timezone)]
"""An IANA time-zone name such as ``Europe/Paris``."""
