"""Debounce, throttle, and failing actions: retried with backoff, then dead-lettered and
reported (with the reason, never the secret), without holding up other firings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from proctor.automations import (
    Automation,
    CallWebhook,
    RunDeployment,
    SendSlackMessage,
    Throttle,
)
from proctor.automations.delivery import DeliveryOutcome
from proctor.automations.engine import ACTION_EXECUTED, ACTION_FAILED, SUPPRESSED, TRIGGERED
from proctor.core.errors import ActionError
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import on_event
from tests.automations.conftest import Harness

SECRET_URL = "https://hooks.slack.com/services/T0/B0/verysecrettoken"


def _ping(n: int = 0) -> Event:
    return Event.build("app.ping", {ID_LABEL: "app.1"}, payload={"n": n})


async def _settle(harness: Harness) -> None:
    sequence = (await harness.bus.stats()).last_sequence
    await harness.engines[0].wait_evaluated(sequence)


async def test_throttle_admits_at_most_limit_per_period_and_reports_once(
    harness: Harness,
) -> None:
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(
        Automation(
            name="throttled",
            trigger=on_event("app.ping"),
            actions=[RunDeployment(deployment="ops/handle")],
            throttle=Throttle(limit=2, per=timedelta(minutes=1)),
        )
    )
    await harness.engine()
    for n in range(5):
        await harness.bus.publish(_ping(n))
    await _settle(harness)
    for _ in range(2):
        await harness.report(TRIGGERED)
    suppressed = await harness.report(SUPPRESSED)
    assert suppressed.payload["reason"] == "throttle"
    await harness.no_report(SUPPRESSED)  # one report for the stretch, not one per drop
    await harness.no_report(TRIGGERED)
    harness.clock.advance(timedelta(minutes=1))
    await harness.bus.publish(_ping(9))
    await harness.report(TRIGGERED)


async def test_debounce_runs_the_latest_firing_once_things_are_quiet(harness: Harness) -> None:
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(
        Automation(
            name="debounced",
            trigger=on_event("app.ping"),
            actions=[
                RunDeployment(deployment="ops/handle", parameters={"n": "{{ event.payload.n }}"})
            ],
            debounce=timedelta(seconds=30),
        )
    )
    await harness.engine()
    for n in range(3):
        await harness.bus.publish(_ping(n))
        await _settle(harness)
        harness.clock.advance(timedelta(seconds=20))  # never quiet for 30 s
    await harness.no_report(TRIGGERED)
    harness.clock.advance(timedelta(seconds=10))  # 30 s since the last ping
    await harness.report(TRIGGERED)
    request = await harness.runs.next_request()
    assert request.parameters == {"n": 2}
    await harness.no_report(TRIGGERED)


async def test_a_failing_action_is_retried_then_dead_lettered_without_its_secret(
    harness: Harness,
) -> None:
    harness.slack.outcomes = [
        DeliveryOutcome(delivered=False, reason="http_500", status=500, retryable=True)
    ] * 10
    harness.automations.put(
        Automation(
            name="alert",
            trigger=on_event("app.ping"),
            actions=[SendSlackMessage(webhook_url=SECRET_URL, text="ping {{ event.payload.n }}")],
        )
    )
    await harness.engine(action_attempts=3)
    await harness.bus.publish(_ping(1))
    failed = await harness.report(ACTION_FAILED)
    assert failed.payload["reason"] == "http_500"
    assert failed.payload["attempts"] == 3
    assert failed.payload["dead_lettered"] is True
    assert len(harness.slack.sent) == 3
    assert "verysecrettoken" not in failed.model_dump_json()
    triggered = await harness.report(TRIGGERED)
    assert "verysecrettoken" not in triggered.model_dump_json()


async def test_a_non_retryable_failure_is_reported_at_once_and_later_actions_still_run(
    harness: Harness,
) -> None:
    harness.runs.add_deployment("ops", "handle")
    harness.runs.fail_next = [ActionError("gone", reason="deployment_not_found")]
    harness.automations.put(
        Automation(
            name="two actions",
            trigger=on_event("app.ping"),
            actions=[
                RunDeployment(deployment="ops/handle"),
                CallWebhook(url="https://example.com/hook"),
            ],
        )
    )
    await harness.engine()
    await harness.bus.publish(_ping())
    failed = await harness.report(ACTION_FAILED)
    assert failed.payload["reason"] == "deployment_not_found"
    assert failed.payload["attempts"] == 1
    executed = await harness.report(ACTION_EXECUTED)
    assert executed.payload["action_index"] == 1
    sent = await asyncio.wait_for(harness.webhooks.arrivals.get(), 10)
    assert sent["message_id"] == executed.payload["idempotency_key"]


async def test_a_slow_action_does_not_hold_up_other_firings(harness: Harness) -> None:
    release = asyncio.Event()

    class SlowOnce:
        calls = 0

        async def send(self, *args: object, **kwargs: object) -> DeliveryOutcome:
            SlowOnce.calls += 1
            if SlowOnce.calls == 1:
                await release.wait()
            return DeliveryOutcome(delivered=True, reason="ok", status=200)

    harness.slack = SlowOnce()  # type: ignore[assignment]
    harness.automations.put(
        Automation(
            name="alert",
            trigger=on_event("app.ping"),
            actions=[SendSlackMessage(webhook_url=SECRET_URL, text="{{ event.payload.n }}")],
        )
    )
    await harness.engine()
    await harness.bus.publish(_ping(1))
    await harness.report(TRIGGERED)
    await harness.bus.publish(_ping(2))
    done = await harness.report(ACTION_EXECUTED)  # the second, while the first still waits
    assert done.payload["attempts"] == 1
    release.set()
    await harness.report(ACTION_EXECUTED)
