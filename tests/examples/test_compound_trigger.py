"""examples/compound_trigger.py: its automations on the engine harness (real NATS), and its
story on a real local server."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples import compound_trigger as example

from proctor.automations.engine import TRIGGERED
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from tests.automations.conftest import Harness

pytestmark = pytest.mark.nats
SLACK = "https://hooks.slack.com/services/T000/B000/example"


async def _published(harness: Harness, *names: str) -> None:
    for name in names:
        event = Event.build(name, {ID_LABEL: "release.2.0.0"}, payload={"version": "2.0.0"})
        await harness.bus.publish(event)
    await harness.engines[0].wait_evaluated((await harness.bus.stats()).last_sequence)


async def _fired(harness: Harness) -> str:
    await harness.report(TRIGGERED)
    return str((await harness.slack.arrivals.get())["args"][1].text)


async def test_the_release_is_ready_once_every_gate_passed(js_harness: Harness) -> None:
    for rule in example.automations(SLACK):
        js_harness.automations.put(rule)
    await js_harness.engine()
    await _published(js_harness, "ci.scan.passed", "qa.approved", "ci.scan.passed")
    await js_harness.no_report(TRIGGERED)  # two of three gates
    await _published(js_harness, "ci.tests.passed")
    assert await _fired(js_harness) == "Release 2.0.0 is ready: tests, scan and QA passed"


async def test_a_failed_deploy_alerts_only_after_a_start(js_harness: Harness) -> None:
    for rule in example.automations(SLACK):
        js_harness.automations.put(rule)
    await js_harness.engine()
    await _published(js_harness, "deploy.failed")
    await js_harness.no_report(TRIGGERED)  # out of order
    await _published(js_harness, "deploy.started", "deploy.failed")
    assert await _fired(js_harness) == "Deploy of 2.0.0 failed: roll back?"


async def test_the_story_alerts_slack_twice(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_OUTGOING_ALLOW", "127.0.0.1")  # restored after the test
    assert await example.main() == [
        "Release 1.4.0 is ready: tests, scan and QA passed",
        "Deploy of 1.4.0 failed: roll back?",
    ]
