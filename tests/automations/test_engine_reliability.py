"""On a real nats-server: state survives a restart, a re-delivered event fires once, a loop
is stopped, schedule replicas never double a slot, and missed slots are caught up and
recorded."""

from __future__ import annotations

from datetime import timedelta

from proctor.automations import Automation, EmitEvent, RunDeployment
from proctor.automations.engine import ACTION_EXECUTED, SLOTS_MISSED, STOPPED, TRIGGERED
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import EventTrigger, IntervalTrigger, on_event
from proctor.triggers.schedules import CatchUp
from tests.automations.conftest import Harness
from tests.conftest import TEST_STREAM
from tests.triggers.support import T0

RUN = RunDeployment(deployment="ops/handle")


async def _published_and_evaluated(harness: Harness, *events: Event) -> None:
    for event in events:
        await harness.bus.publish(event)
    sequence = (await harness.bus.stats()).last_sequence
    for engine in harness.engines:
        if engine.stats.events or engine is harness.engines[-1]:
            await engine.wait_evaluated(sequence)


async def test_a_restart_mid_window_keeps_the_count(js_harness: Harness) -> None:
    harness = js_harness
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(
        Automation(
            name="three failures",
            trigger=EventTrigger(expect=("job.failed",), threshold=3, within=timedelta(hours=1)),
            actions=[RUN],
        )
    )
    first = await harness.engine()
    failures = [Event.build("job.failed", {ID_LABEL: "job.1"}, occurred=T0) for _ in range(3)]
    await _published_and_evaluated(harness, *failures[:2])
    await first.stop()
    harness.engines.remove(first)

    await harness.engine()
    await harness.no_report(TRIGGERED)  # two of three so far
    await harness.bus.publish(failures[2])
    triggered = await harness.report(TRIGGERED)
    assert triggered.payload["firing"]["events"] == [str(e.id) for e in failures]
    await harness.report(ACTION_EXECUTED)
    assert len(harness.runs.requests) == 1


async def test_the_same_event_delivered_twice_fires_once(js_harness: Harness) -> None:
    harness = js_harness
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(
        Automation(name="on push", trigger=on_event("github.push"), actions=[RUN])
    )
    await harness.engine()
    push = Event.build("github.push", {ID_LABEL: "repo.1"})
    bus = harness.bus
    assert isinstance(bus, JetStreamEventBus)
    for _ in range(2):  # two stream messages carrying one event (no Nats-Msg-Id: not deduped)
        await bus.js.publish(bus.naming.event_subject(push.event), push.to_wire())
    await harness.report(TRIGGERED)
    await harness.report(ACTION_EXECUTED)
    await harness.no_report(TRIGGERED)
    assert len(harness.runs.requests) == 1


async def test_an_automation_that_re_triggers_itself_is_stopped_and_says_so(
    js_harness: Harness,
) -> None:
    harness = js_harness
    loop = harness.automations.put(
        Automation(
            name="echo",
            trigger=on_event("loop.ping"),
            actions=[EmitEvent(event="loop.ping", resource={ID_LABEL: "loop.1"})],
        )
    )
    engine = await harness.engine(loop_limit=6)
    await harness.bus.publish(Event.build("loop.ping", {ID_LABEL: "loop.1"}))
    stopped = await harness.report(STOPPED)
    assert stopped.payload["reason"] == "loop_guard"
    assert "loop guard" in stopped.payload["message"]
    assert loop.id in harness.automations.paused
    assert not harness.automations.items[loop.id].enabled
    for _ in range(3):  # pings at hops 0, 2, 4 were echoed (the last maybe after the stop)...
        await harness.report(ACTION_EXECUTED)
    await harness.no_report(ACTION_EXECUTED)  # ...and 6 was not
    assert engine.stats.actions_executed == 3


async def test_three_replicas_over_a_hundred_slots_make_a_hundred_runs(
    js_harness: Harness,
) -> None:
    harness = js_harness
    harness.runs.add_deployment("etl", "minutely")
    harness.automations.put(
        Automation(
            name="every minute",
            trigger=IntervalTrigger(every=timedelta(minutes=1)),
            actions=[RunDeployment(deployment="etl/minutely")],
        )
    )
    bus = harness.bus
    assert isinstance(bus, JetStreamEventBus)
    replicas = [harness.bus] + [
        await JetStreamEventBus.connect(
            bus.nc.connected_url.geturl() if bus.nc.connected_url else "",
            naming=harness.naming,
            stream=TEST_STREAM,
        )
        for _ in range(2)
    ]
    for replica_bus in replicas:
        await harness.engine(bus=replica_bus)
    for _ in range(100):
        harness.clock.advance(timedelta(minutes=1))
        request = await harness.runs.next_request()
        assert request.scheduled_time == harness.clock.now()
    await harness.no_report(ACTION_EXECUTED + ".none")  # drain what is queued
    triggered = [e for e in harness.seen if e.event == TRIGGERED]
    assert len(triggered) == 100  # three replicas made each firing; it is stored once
    assert len(harness.runs.requests) == 100
    assert len({r.run_id for r in harness.runs.requests}) == 100
    executed = sum(engine.stats.actions_executed for engine in harness.engines)
    assert executed == 100  # no firing reached the actions twice
    for engine in harness.engines:
        await engine.stop(drain_s=1)
    for replica_bus in replicas[1:]:
        await replica_bus.close()
    harness.engines.clear()


async def test_a_restart_after_downtime_applies_the_catch_up_policy(js_harness: Harness) -> None:
    harness = js_harness
    harness.runs.add_deployment("etl", "hourly")
    harness.automations.put(
        Automation(
            name="hourly",
            trigger=IntervalTrigger(every=timedelta(hours=1), catch_up=CatchUp(policy="once")),
            actions=[RunDeployment(deployment="etl/hourly")],
        )
    )
    engine = await harness.engine()
    harness.clock.advance(timedelta(hours=1))  # 13:00 fires on time
    assert (await harness.runs.next_request()).scheduled_time == T0 + timedelta(hours=1)
    await engine.stop()
    harness.engines.remove(engine)

    harness.clock.advance(timedelta(hours=5, minutes=30))  # down until 18:30: 14:00-18:00 missed
    await harness.engine()
    latest = await harness.runs.next_request()
    assert latest.scheduled_time == T0 + timedelta(hours=6)  # "once": the latest missed slot
    missed = await harness.report(SLOTS_MISSED)
    assert missed.payload["first"] == (T0 + timedelta(hours=2)).isoformat()
    assert missed.payload["last"] == (T0 + timedelta(hours=5)).isoformat()
    for slot in (1, 6):
        triggered = await harness.report(TRIGGERED)
        assert triggered.payload["firing"]["occurred"] == f"2026-06-01T{12 + slot}:00:00Z"
    await harness.no_report(TRIGGERED)
    assert len(harness.runs.requests) == 2
