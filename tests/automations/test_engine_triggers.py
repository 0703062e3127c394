"""Each kind of trigger fires through the engine exactly when it should, and not otherwise:
thresholds per ``for_each`` bucket, absence on a manual clock, compound any/all/N, sequences
in order, ``where`` on nested payload fields, label negation, cron slots."""

from __future__ import annotations

from datetime import timedelta

from proctor.automations import Automation, RunDeployment
from proctor.automations.engine import TRIGGERED
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import (
    CompoundTrigger,
    CronTrigger,
    EventTrigger,
    SequenceTrigger,
    Trigger,
    on_event,
)
from tests.automations.conftest import Harness
from tests.triggers.support import T0

RUN = RunDeployment(deployment="ops/handle")


def _event(name: str, resource: str = "thing.1", **payload: object) -> Event:
    return Event.build(name, {ID_LABEL: resource, "env": "prod"}, payload=payload, occurred=T0)


async def _setup(harness: Harness, trigger: Trigger) -> None:
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(Automation(name="under test", trigger=trigger, actions=[RUN]))
    await harness.engine()


async def _publish(harness: Harness, *events: Event) -> None:
    for event in events:
        await harness.bus.publish(event)


async def _firing_events(harness: Harness) -> list[str]:
    triggered = await harness.report(TRIGGERED)
    return [str(i) for i in triggered.payload["firing"]["events"]]


async def test_threshold_within_a_window_per_for_each_bucket(harness: Harness) -> None:
    trigger = EventTrigger(
        expect=("order.failed",), threshold=3, within=timedelta(minutes=5), for_each=(ID_LABEL,)
    )
    await _setup(harness, trigger)
    a = [_event("order.failed", "order.a") for _ in range(3)]
    b = [_event("order.failed", "order.b") for _ in range(2)]
    await _publish(harness, a[0], b[0], a[1], b[1], a[2])
    assert await _firing_events(harness) == [str(e.id) for e in a]
    await harness.no_report(TRIGGERED)  # bucket b has two: no firing


async def test_where_on_a_nested_payload_field_and_label_negation(harness: Harness) -> None:
    trigger = on_event(
        "shop.order.*", where="$.payload.order.total > 100", match={"env": "!staging"}
    )
    await _setup(harness, trigger)
    small = _event("shop.order.created", order={"total": 5})
    staging = Event.build(
        "shop.order.created", {ID_LABEL: "o", "env": "staging"}, payload={"order": {"total": 500}}
    )
    big = _event("shop.order.created", order={"total": 500})
    await _publish(harness, small, staging, big)
    assert await _firing_events(harness) == [str(big.id)]
    await harness.no_report(TRIGGERED)


async def test_proactive_absence_fires_when_the_window_closes_short(harness: Harness) -> None:
    trigger = EventTrigger(
        after=("job.started",),
        expect=("job.finished",),
        posture="proactive",
        within=timedelta(minutes=10),
    )
    await _setup(harness, trigger)
    started = _event("job.started")
    await _publish(harness, started)
    engine = harness.engines[0]
    sequence = (await harness.bus.stats()).last_sequence
    await engine.wait_evaluated(sequence)
    harness.clock.advance(timedelta(minutes=9))
    await harness.no_report(TRIGGERED)  # the window is still open
    harness.clock.advance(timedelta(minutes=1))
    triggered = await harness.report(TRIGGERED)
    assert triggered.payload["firing"]["kind"] == "proactive"
    assert triggered.payload["firing"]["events"] == [str(started.id)]


async def test_compound_any_all_and_n(harness: Harness) -> None:
    children: tuple[Trigger, ...] = (
        on_event("a.happened"),
        on_event("b.happened"),
        on_event("c.happened"),
    )
    harness.runs.add_deployment("ops", "handle")
    for require in ("any", "all", 2):
        harness.automations.put(
            Automation(
                name=f"require {require}",
                trigger=CompoundTrigger(triggers=children, require=require),
                actions=[RUN],
            )
        )
    await harness.engine()
    names = {a.id: a.name for a in harness.automations.items.values()}
    fired: list[str] = []

    async def step(name: str) -> None:
        await _publish(harness, _event(name))
        sequence = (await harness.bus.stats()).last_sequence
        await harness.engines[0].wait_evaluated(sequence)

    await step("a.happened")
    fired.append(names[(await harness.report(TRIGGERED)).payload["automation"]["id"]])
    await step("b.happened")
    for _ in range(2):  # any (again) and 2
        fired.append(names[(await harness.report(TRIGGERED)).payload["automation"]["id"]])
    await step("c.happened")
    for _ in range(2):  # any (again) and all
        fired.append(names[(await harness.report(TRIGGERED)).payload["automation"]["id"]])
    await harness.no_report(TRIGGERED)
    assert sorted(fired) == sorted(
        ["require any", "require any", "require 2", "require any", "require all"]
    )


async def test_sequence_fires_only_in_order(harness: Harness) -> None:
    trigger = SequenceTrigger(
        triggers=(on_event("deploy.started"), on_event("deploy.failed")),
        within=timedelta(hours=1),
    )
    await _setup(harness, trigger)
    failed_first = _event("deploy.failed")
    started = _event("deploy.started")
    failed = _event("deploy.failed")
    await _publish(harness, failed_first, started, failed)
    assert await _firing_events(harness) == [str(started.id), str(failed.id)]
    await harness.no_report(TRIGGERED)


async def test_cron_starts_the_deployment_at_the_right_instant_once(harness: Harness) -> None:
    harness.runs.add_deployment("etl", "nightly")
    harness.automations.put(
        Automation(
            name="nightly",
            trigger=CronTrigger(cron="30 2 * * *", timezone="America/New_York"),
            actions=[RunDeployment(deployment="etl/nightly")],
        )
    )
    await harness.engine()
    slot = T0.replace(day=2, hour=6, minute=30)  # 02:30 EDT on 2026-06-02
    harness.clock.set(slot - timedelta(seconds=1))
    await harness.no_report(TRIGGERED)
    harness.clock.set(slot)
    triggered = await harness.report(TRIGGERED)
    request = await harness.runs.next_request()
    assert triggered.payload["firing"]["occurred"] == "2026-06-02T06:30:00Z"
    assert request.scheduled_time == slot
    harness.clock.set(slot + timedelta(hours=1))
    await harness.no_report(TRIGGERED)
    assert len(harness.runs.requests) == 1
