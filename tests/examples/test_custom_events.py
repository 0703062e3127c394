"""examples/custom_events.py: the flow's event, carrying its run, fires the automation on the
engine harness (real NATS); and the story on a real local server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from examples import custom_events as example

from proctor.automations.engine import TRIGGERED
from proctor.events.bus import JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.labels import ID_LABEL, ROLE_LABEL
from proctor.runtime.run_events import FlowRunSnapshot
from tests.automations.conftest import Harness
from tests.flows.conftest import changes
from tests.flows.test_jetstream_runs import stored_events

pytestmark = pytest.mark.nats
SLACK = "https://hooks.slack.com/services/T000/B000/example"


async def test_only_a_big_eu_order_alerts_and_it_names_its_run(
    js_harness: Harness, jetstream_publisher: BusThread
) -> None:
    js_harness.automations.put(example.big_order_alert(SLACK))
    await js_harness.engine()
    orders = [("1", "eu-west", 80.0), ("2", "us-east", 5000.0), ("3", "eu-central", 1250.0)]
    for order_id, region, total in orders:
        state = await asyncio.to_thread(
            example.checkout, order_id, region, total, return_state=True
        )
        assert state.name == "Completed"

    triggered = await js_harness.report(TRIGGERED)
    await js_harness.no_report(TRIGGERED)  # not the small order, nor the one from the US
    event = triggered.payload["event"]
    assert event["resource"] == {ID_LABEL: "shop.order.3", "shop.region": "eu-central"}
    (run,) = [r for r in event["related"] if r[ROLE_LABEL] == "flow-run"]
    assert isinstance(js_harness.bus, JetStreamEventBus)
    stored = await stored_events(js_harness.bus)
    checkout_runs = {
        c.run.id
        for c in changes(stored)
        if isinstance(c.run, FlowRunSnapshot) and c.run.parameters["order_id"] == "3"
    }
    assert [run[ID_LABEL]] == [f"proctor.flow-run.{run_id}" for run_id in checkout_runs]
    sent = await js_harness.slack.arrivals.get()
    assert sent["args"][1].text == "Big order shop.order.3 from eu-central: 1250.0 EUR"


async def test_the_story_alerts_slack_once(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_OUTGOING_ALLOW", "127.0.0.1")  # restored after the test
    assert await example.main() == "Big order shop.order.1043 from eu-west: 1250.0 EUR"
