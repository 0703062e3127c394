"""The engine end to end on both buses: an event fires an automation, its actions run once
with their idempotency keys, and every step is reported as an event."""

from __future__ import annotations

import asyncio

import pytest

from proctor.automations import Automation, RunDeployment
from proctor.automations.engine import ACTION_EXECUTED, TRIGGERED, LoadedAutomation
from proctor.events.bus import PublishReceipt
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import on_event
from tests.automations.conftest import Harness


async def test_an_event_runs_a_deployment_with_templated_native_parameters(
    harness: Harness,
) -> None:
    deployment = harness.runs.add_deployment("etl", "nightly")
    harness.automations.put(
        Automation(
            name="rebuild on push",
            trigger=on_event("github.push", where="$.payload.ref == 'refs/heads/main'"),
            actions=[
                RunDeployment(
                    deployment="etl/nightly",
                    parameters={"sha": "{{ event.payload.sha }}", "n": "{{ event.payload.n }}"},
                )
            ],
        )
    )
    await harness.engine()
    other = Event.build("github.push", {ID_LABEL: "repo.1"}, payload={"ref": "refs/heads/dev"})
    push = Event.build(
        "github.push",
        {ID_LABEL: "repo.1"},
        payload={"ref": "refs/heads/main", "sha": "0000", "n": 3},
    )
    await harness.bus.publish(other)
    await harness.bus.publish(push)

    triggered = await harness.report(TRIGGERED)
    executed = await harness.report(ACTION_EXECUTED)
    request = harness.runs.requests[0]
    assert request.deployment == "etl/nightly"
    assert request.parameters == {"sha": "0000", "n": 3}
    assert triggered.payload["event"]["id"] == str(push.id)
    assert triggered.caused_by == push.id
    assert triggered.hops == 1
    assert executed.payload["detail"]["flow_run_id"] == str(request.run_id)
    assert executed.caused_by == triggered.id
    await harness.no_report(TRIGGERED)
    assert len(harness.runs.requests) == 1
    assert str(deployment.id) != request.deployment


async def _create_automation(harness: Harness) -> PublishReceipt:
    """Store an automation on ``github.push`` and publish what the API then publishes."""
    harness.automations.put(
        Automation(
            name="new",
            trigger=on_event("github.push"),
            actions=[RunDeployment(deployment="etl/nightly")],
        )
    )
    created = Event.build("proctor.automation.created", {ID_LABEL: "proctor.automation.new"})
    return await harness.bus.publish(created)


async def test_an_automation_applied_just_before_an_event_sees_it(harness: Harness) -> None:
    harness.runs.add_deployment("etl", "nightly")
    await harness.engine(reload_on=("proctor.automation.created",))
    await _create_automation(harness)
    await harness.bus.publish(Event.build("github.push", {ID_LABEL: "repo.1"}))
    await harness.report(TRIGGERED)
    await harness.report(ACTION_EXECUTED)


async def test_a_resync_that_read_the_automations_earlier_does_not_unload_a_newer_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server resynchronises on change notices as well as in stream order. A resync that
    read the automations before one was added, and applied what it read after the in-order
    reload had loaded it, unloaded it again: its events were lost until the next resync."""
    harness.runs.add_deployment("etl", "nightly")
    engine = await harness.engine(reload_on=("proctor.automation.created",))
    read, release = asyncio.Event(), asyncio.Event()
    load_all = harness.automations.load_all

    async def read_then_wait() -> list[LoadedAutomation]:
        found = await load_all()  # what the store held when the resync read it
        monkeypatch.setattr(harness.automations, "load_all", load_all)
        read.set()
        await release.wait()
        return found

    monkeypatch.setattr(harness.automations, "load_all", read_then_wait)
    resync = asyncio.create_task(engine.sync())
    await read.wait()
    receipt = await _create_automation(harness)
    if not engine._evaluation.lock.locked():  # the resync lets the in-order reload run first
        await engine.wait_evaluated(receipt.sequence)
    release.set()
    await resync
    await engine.wait_evaluated(receipt.sequence)
    await harness.bus.publish(Event.build("github.push", {ID_LABEL: "repo.1"}))
    await harness.report(TRIGGERED)
