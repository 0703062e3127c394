"""Intervals are bounded: a huge one is refused where it is given, naming the field, rather
than overflowing later (a stored one once made every automations listing answer 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from proctor import Interval, IntervalTrigger
from proctor.core.errors import DefinitionError
from proctor.runtime.automation_service.schedules import schedule_trigger
from proctor.triggers.schedules import MAX_INTERVAL


def test_a_deployment_interval_beyond_the_maximum_is_refused() -> None:
    assert Interval(MAX_INTERVAL.total_seconds()).interval_s == MAX_INTERVAL.total_seconds()
    with pytest.raises(ValidationError, match="interval_s"):
        Interval(1e300)


def test_an_interval_trigger_beyond_the_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most 36600 days"):
        IntervalTrigger(every=MAX_INTERVAL + timedelta(days=1))


def test_a_stored_schedule_that_overflows_is_a_definition_error_naming_it() -> None:
    with pytest.raises(DefinitionError, match=r"schedules\.interval_s") as raised:
        schedule_trigger({"interval_s": 1e300})
    assert raised.value.field == "schedules.interval_s"
