"""Trigger definitions: JSON round-trips, described fields, helpers, and bad input named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from proctor.runtime.run_events import FLOW_RUN_PREFIX
from proctor.triggers.definitions import (
    FLOW_RUN_EVENT_PREFIX,
    CompoundTrigger,
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    SequenceTrigger,
    Trigger,
    on_event,
    on_flow_completed,
    on_flow_failed,
    parse_trigger,
)
from proctor.triggers.schedules import CatchUp
from tests.triggers.support import utc

EXAMPLES: list[Any] = [
    EventTrigger(),
    EventTrigger(
        expect=("shop.order.*", "shop.refund.>"),
        after=("shop.cart.opened",),
        match={"proctor.resource.id": "shop.*", "env": ["prod", "!dev*"]},
        match_related=[{"proctor.resource.role": "customer", "tier": "gold"}],
        where="$.payload.total > 100 && $.payload.currency == 'EUR'",
        for_each=("proctor.resource.id", "related:customer:proctor.resource.id"),
        posture="proactive",
        threshold=3,
        within=timedelta(minutes=10),
    ),
    CronTrigger(cron="30 2 * * 1-5", timezone="America/New_York"),
    CronTrigger(
        cron="@daily", catch_up=CatchUp(policy="all", window=timedelta(days=1), grace=timedelta(0))
    ),
    IntervalTrigger(every=timedelta(minutes=5), anchor=utc(2026, 1, 1, 0, 2)),
    CompoundTrigger(
        triggers=(on_flow_failed("etl"), on_event("ops.alert")),
        require=1,
        within=timedelta(hours=1),
    ),
    SequenceTrigger(
        triggers=(
            on_event("deploy.started"),
            CompoundTrigger(
                triggers=(on_event("a.b"), CronTrigger(cron="0 * * * *")), require="any"
            ),
            on_event("deploy.finished", where="$.payload.ok == false"),
        ),
        within=timedelta(minutes=30),
    ),
]


class Holder(BaseModel):
    """What an Automation does with its trigger."""

    trigger: Trigger


@pytest.mark.parametrize("trigger", EXAMPLES, ids=lambda t: t.type)
def test_json_round_trip_is_exact(trigger: Any) -> None:
    text = trigger.model_dump_json()
    again = parse_trigger(text)
    assert again == trigger
    assert again.model_dump_json() == text
    assert parse_trigger(trigger.model_dump(mode="json")) == trigger
    holder = Holder(trigger=trigger)
    assert Holder.model_validate_json(holder.model_dump_json()) == holder


def _fields_without_description(schema: dict[str, Any]) -> list[str]:
    missing = []
    for name, definition in schema.get("$defs", {}).items():
        for field, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}")
    return missing


def test_every_field_is_described_in_the_json_schema() -> None:
    assert _fields_without_description(Holder.model_json_schema()) == []


def test_helpers_match_the_runtime_wire_schema() -> None:
    assert FLOW_RUN_EVENT_PREFIX == FLOW_RUN_PREFIX
    failed = on_flow_failed("etl", deployment="nightly", tags=["prod", "eu"])
    assert failed.expect == (
        "proctor.flow-run.Failed",
        "proctor.flow-run.Crashed",
        "proctor.flow-run.TimedOut",
    )
    assert failed.match_related == [
        {"proctor.resource.role": "flow", "proctor.resource.name": "etl"},
        {"proctor.resource.role": "deployment", "proctor.resource.name": "nightly"},
        {"proctor.resource.role": "tag", "proctor.resource.name": "prod"},
        {"proctor.resource.role": "tag", "proctor.resource.name": "eu"},
    ]
    by_id = on_flow_completed(deployment="0b6f6b1e-7d64-4c3f-8b0d-0f4a2f1c9e11")
    assert by_id.expect == ("proctor.flow-run.Completed", "proctor.flow-run.Cached")
    assert by_id.match_related == [
        {
            "proctor.resource.role": "deployment",
            "proctor.resource.id": "proctor.deployment.0b6f6b1e-7d64-4c3f-8b0d-0f4a2f1c9e11",
        }
    ]
    assert on_event("github.push", where="$.payload.ref == 'main'").where == (
        "$.payload.ref == 'main'"
    )


def test_a_single_related_specification_is_a_list_of_one() -> None:
    trigger = EventTrigger(match_related={"proctor.resource.role": "flow"})
    assert trigger.match_related == [{"proctor.resource.role": "flow"}]
    assert EventTrigger(match_related={}).match_related == []


def _error_locations(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse_trigger(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        ({"type": "cron", "cron": "61 * * * *"}, "cron.cron", "is invalid"),
        ({"type": "cron", "cron": "0 0 31 2 *"}, "cron.cron", "never fires"),
        ({"type": "cron", "cron": "0 0 * * *", "timezone": "Mars/Base"}, "cron.timezone", "IANA"),
        ({"type": "cron", "cron": "0 0 * * *", "tz": "UTC"}, "cron.tz", "Extra inputs"),
        ({"type": "event", "expect": ["a..b"]}, "event.expect.0", "token 2"),
        ({"type": "event", "after": ["a.>.b"]}, "event.after.0", "last token"),
        ({"type": "event", "where": "$.payload.x =="}, "event.where", "not a valid JSONPath"),
        ({"type": "event", "where": "$.payload.x == main"}, "event.where", "not a valid"),
        ({"type": "event", "match": {"env": []}}, "event.match", "at least one value"),
        ({"type": "event", "match": {"env": "!"}}, "event.match", "empty"),
        ({"type": "event", "match_related": [{"r": ""}]}, "event.match_related.0", "empty"),
        ({"type": "event", "for_each": ["related::x"]}, "event.for_each.0", "related:<role>"),
        ({"type": "event", "posture": "proactive"}, "event.within", "is required"),
        ({"type": "event", "within": "PT0S"}, "event.within", "positive"),
        ({"type": "event", "threshold": 0}, "event.threshold", "greater than or equal"),
        ({"type": "event", "posture": "sometimes"}, "event.posture", "Input should be"),
        ({"type": "event", "bogus": 1}, "event.bogus", "Extra inputs"),
        ({"type": "interval", "every": "PT0S"}, "interval.every", "positive"),
        (
            {"type": "interval", "every": "PT1M", "anchor": "2026-01-01T00:00:00"},
            "interval.anchor",
            "naive",
        ),
        ({"type": "compound", "triggers": []}, "compound.triggers", "at least 1"),
        (
            {"type": "compound", "triggers": [{"type": "event"}], "require": 2},
            "compound",
            "require is 2",
        ),
        (
            {"type": "compound", "triggers": [{"type": "event"}], "require": True},
            "compound.require",
            "",
        ),
        ({"type": "sequence", "triggers": [{"type": "event"}]}, "sequence.triggers", "at least 2"),
        (
            {"type": "sequence", "triggers": [{"type": "event"}, {"type": "cron", "cron": "x"}]},
            "sequence.triggers.1.cron.cron",
            "has 1 field;",
        ),
        ({"type": "webhook"}, "", "does not match any of the expected tags"),
    ],
)
def test_bad_definitions_are_rejected_naming_the_field(
    data: dict[str, Any], location: str, message: str
) -> None:
    errors = _error_locations(data)
    assert any(loc.startswith(location) and message in msg for loc, msg in errors), errors


def test_nesting_is_bounded() -> None:
    trigger: Any = on_event("a.b")
    for _ in range(8):
        trigger = CompoundTrigger(triggers=(trigger,))
    with pytest.raises(ValidationError, match="nest 9 levels deep"):
        CompoundTrigger(triggers=(trigger,))


def test_a_deployment_given_as_flow_slash_name_matches_both() -> None:
    trigger = on_flow_failed(deployment="etl/nightly")
    assert trigger.match_related == [
        {"proctor.resource.role": "deployment", "proctor.resource.name": "nightly"},
        {"proctor.resource.role": "flow", "proctor.resource.name": "etl"},
    ]
    with pytest.raises(ValueError, match="flow-name/deployment-name"):
        on_flow_failed(deployment=["etl/nightly", "etl/weekly"])
