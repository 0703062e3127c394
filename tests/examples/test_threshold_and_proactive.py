"""examples/threshold_and_proactive.py: its automations on the engine harness (real NATS, a
manual clock: the 10 minutes pass at once), and its story on a real local server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from examples import threshold_and_proactive as example

from proctor.automations.engine import TRIGGERED
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from tests.automations.conftest import Harness
from tests.triggers.support import T0

pytestmark = pytest.mark.nats
SLACK = "https://hooks.slack.com/services/T000/B000/example"


def _event(name: str, seconds: float, **payload: str) -> Event:
    occurred = T0 + timedelta(seconds=seconds)
    return Event.build(name, {ID_LABEL: f"shop.{seconds}"}, payload=payload, occurred=occurred)


async def _published(harness: Harness, *events: Event) -> None:
    for event in events:
        await harness.bus.publish(event)
    await harness.engines[0].wait_evaluated((await harness.bus.stats()).last_sequence)


async def _texts(harness: Harness, count: int) -> list[str]:
    sent = [await harness.slack.arrivals.get() for _ in range(count)]
    return [record["args"][1].text for record in sent]


async def test_three_failed_payments_within_a_minute_alert_once(js_harness: Harness) -> None:
    for rule in example.automations(SLACK):
        js_harness.automations.put(rule)
    await js_harness.engine()
    await _published(
        js_harness,
        _event("payments.failed", 0, order="o-1", reason="declined"),
        _event("payments.failed", 61, order="o-2", reason="declined"),  # o-1 is too old now
        _event("payments.failed", 70, order="o-3", reason="expired"),
    )
    await js_harness.no_report(TRIGGERED)
    await _published(js_harness, _event("payments.failed", 90, order="o-4", reason="fraud"))
    await js_harness.report(TRIGGERED)
    assert await _texts(js_harness, 1) == [
        "3 payments failed within a minute; the last: o-4 (fraud)"
    ]


async def test_ten_quiet_minutes_without_an_order_alert(js_harness: Harness) -> None:
    for rule in example.automations(SLACK):
        js_harness.automations.put(rule)
    await js_harness.engine()  # the window opens now (T0)
    js_harness.clock.advance(timedelta(minutes=5))
    await _published(js_harness, _event("orders.created", 5 * 60))  # a new window of 10 minutes
    js_harness.clock.advance(timedelta(minutes=9))
    await js_harness.no_report(TRIGGERED)
    js_harness.clock.advance(timedelta(minutes=1))
    triggered = await js_harness.report(TRIGGERED)
    assert triggered.payload["firing"]["kind"] == "proactive"
    assert await _texts(js_harness, 1) == ["No orders.created event for 0:10:00: is the shop down?"]


async def test_the_story_alerts_slack_twice(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_OUTGOING_ALLOW", "127.0.0.1")  # restored after the test
    texts = await example.main(quiet=timedelta(seconds=1))
    assert sorted(texts) == [
        "3 payments failed within a minute; the last: o-3 (fraud)",
        "No orders.created event for 0:00:01: is the shop down?",
    ]
