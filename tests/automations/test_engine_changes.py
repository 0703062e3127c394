"""Automations changed while the engine runs: several on one event name, one paused (its count
kept for when it resumes), one removed, one added; each fires exactly when its own count says."""

from __future__ import annotations

from datetime import timedelta

from proctor.automations import Automation, RunDeployment
from proctor.automations.engine import ACTION_EXECUTED, TRIGGERED
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import EventTrigger
from tests.automations.conftest import Harness


def counting(name: str) -> Automation:
    """Fires on every second order event (any kind: a wildcard name)."""
    return Automation(
        name=name,
        trigger=EventTrigger(expect=("shop.order.*",), threshold=2, within=timedelta(hours=1)),
        actions=[RunDeployment(deployment="ops/handle", parameters={"who": name})],
    )


async def test_automations_on_one_name_paused_removed_and_added_at_runtime(
    harness: Harness,
) -> None:
    harness.runs.add_deployment("ops", "handle")
    automations = harness.automations
    for name in ("kept", "paused", "removed"):
        automations.put(counting(name))
    engine = await harness.engine()

    async def fired_by(number: int, *expected: str) -> list[str]:
        """Publish order ``number``, wait for ``expected`` firings; who ran its action."""
        before = len(harness.runs.requests)
        order = Event.build(f"shop.order.kind{number}", {ID_LABEL: f"shop.order.{number}"})
        receipt = await harness.bus.publish(order)
        await engine.wait_evaluated(receipt.sequence)
        for _ in expected:
            await harness.report(TRIGGERED)
            await harness.report(ACTION_EXECUTED)
        await harness.no_report(TRIGGERED)  # and no other firing
        return sorted(r.parameters["who"] for r in harness.runs.requests[before:])

    assert await fired_by(1) == []  # every count is 1
    await automations.pause_automation("paused", reason="maintenance")
    automations.remove("removed")
    automations.put(counting("added"))
    await engine.sync()
    assert await fired_by(2, "kept") == ["kept"]  # "added" counts 1; the others do not count
    await automations.resume_automation("paused")
    await engine.sync()
    assert await fired_by(3, "added", "paused") == ["added", "paused"]  # "paused" kept its 1
    assert await fired_by(4, "kept") == ["kept"]
