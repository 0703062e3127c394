"""The three used-by stories, end to end on a real nats-server:

1. a flow fails → one Slack message, at a local fake Slack, naming the flow, run, state and
   error;
2. a flow fails → ``RetryFlowRun`` runs it again until it succeeds or attempts run out (and
   the same for a run whose worker died: Crashed);
3. a deployment's cron schedule starts its run at the right instant (manual clock), once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from proctor import Automation, RetryFlowRun, SendSlackMessage, flow, on_flow_failed
from proctor.automations.delivery import DestinationPolicy, GuardedHttp
from proctor.automations.engine import ACTION_EXECUTED, ACTION_FAILED, TRIGGERED
from proctor.automations.slack import SlackSender
from proctor.events.bus import JetStreamEventBus
from proctor.events.emit import BusThread, use_publisher
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.automation_service import AutomationRegistry
from proctor.runtime.run_events import FlowRunSnapshot, StateType
from proctor.runtime.store import Store
from proctor.runtime.store.control import DeploymentRow
from tests.automations.conftest import Harness
from tests.automations.stories import FakeWorker, play_run
from tests.triggers.support import T0
from tests.webhooks.fake_http import FakeHttpServer

SLACK_PATH = "/services/T0PROCTOR/B0STORY/xoxstorytoken"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeHttpServer]:
    server = await FakeHttpServer().start()
    yield server
    await server.stop()


@flow(name="etl")
def etl(day: str) -> None:
    raise ValueError(f"no rows for {day}")


async def test_story_1_a_failed_flow_sends_one_slack_message(
    js_harness: Harness, fake_slack: FakeHttpServer, nats_server: EmbeddedNats
) -> None:
    harness = js_harness
    http = GuardedHttp(policy=DestinationPolicy(allow=("127.0.0.1/32",)), timeout_s=5)
    harness.slack = SlackSender(http=http)  # type: ignore[assignment]
    harness.automations.put(
        Automation(
            name="etl failures to Slack",
            trigger=on_flow_failed("etl"),
            actions=[SendSlackMessage(webhook_url=fake_slack.url(SLACK_PATH))],
        )
    )
    await harness.engine()

    def run_the_flow() -> None:
        thread = BusThread(
            lambda: JetStreamEventBus.connect(nats_server.url, naming=harness.naming, declare=False)
        )
        try:
            with use_publisher(thread):
                state = etl("2026-06-01", return_state=True)
            assert state.is_failed()
        finally:
            thread.close()

    await asyncio.to_thread(run_the_flow)
    request = await fake_slack.next_request()
    executed = await harness.report(ACTION_EXECUTED)
    body = json.loads(request.body)
    text = json.dumps(body)
    run_id = executed.payload["detail"]
    triggered = await harness.report(TRIGGERED)
    run = triggered.payload["event"]["payload"]["run"]
    assert request.path == SLACK_PATH
    assert body["blocks"][0]["text"]["text"] == ":x: Flow run failed: etl"
    for expected in ("etl", run["name"], run["id"], "Failed", "ValueError: no rows for 2026-06-01"):
        assert expected in text
    assert run_id["status"] == 200
    await harness.no_report(TRIGGERED)
    assert len(fake_slack.received) == 1
    await http.aclose()


async def _retry_story(harness: Harness, worker: FakeWorker, final: StateType) -> None:
    deployment = worker.add_deployment("etl", "nightly")
    harness.runs = worker
    harness.automations.put(
        Automation(
            name="retry etl",
            trigger=on_flow_failed(deployment="etl/nightly"),
            actions=[RetryFlowRun(max_attempts=3)],
        )
    )
    await harness.engine()
    original = FlowRunSnapshot(
        id=uuid.uuid4(),
        name="first-try",
        flow_name="etl",
        deployment_id=deployment.id,
        deployment_name="nightly",
        parameters={"day": "2026-06-01"},
    )
    name = "Crashed" if final is StateType.CRASHED else "Failed"
    await play_run(harness.bus, original, final, name, "worker lost")


async def test_story_2_retry_until_the_run_succeeds(js_harness: Harness) -> None:
    worker = FakeWorker(bus=js_harness.bus, failures=1)
    await _retry_story(js_harness, worker, StateType.FAILED)
    first = await worker.next_request()
    second = await worker.next_request()
    assert second.retry_of == first.run_id
    assert first.parameters == second.parameters == {"day": "2026-06-01"}
    for _ in range(2):
        await js_harness.report(TRIGGERED)
        await js_harness.report(ACTION_EXECUTED)
    while len(worker.finished) < 2:
        await asyncio.wait_for(asyncio.gather(*worker.tasks), 10)
    assert worker.finished[-1].id == second.run_id  # it Completed: nothing more to retry
    await js_harness.no_report(TRIGGERED)
    assert len(worker.requests) == 2


async def test_story_2_retry_stops_when_attempts_run_out(js_harness: Harness) -> None:
    worker = FakeWorker(bus=js_harness.bus, failures=10)
    await _retry_story(js_harness, worker, StateType.FAILED)
    for _ in range(2):
        await js_harness.report(ACTION_EXECUTED)
    out = await js_harness.report(ACTION_FAILED)
    assert out.payload["reason"] == "attempts_exhausted"
    assert len(worker.requests) == 2  # 3 attempts in all: the original and two retries


async def test_story_2_a_crashed_run_is_retried_too(js_harness: Harness) -> None:
    worker = FakeWorker(bus=js_harness.bus, failures=1, crash=True)
    await _retry_story(js_harness, worker, StateType.CRASHED)
    first = await worker.next_request()
    second = await worker.next_request()
    assert second.retry_of == first.run_id
    await js_harness.report(ACTION_EXECUTED)
    await js_harness.report(ACTION_EXECUTED)


async def test_story_3_a_deployments_cron_starts_its_run_at_the_right_instant_once(
    js_harness: Harness, tmp_path: Path
) -> None:
    harness = js_harness
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        row = await store.deployments.create(
            DeploymentRow(
                name="nightly",
                flow_name="etl",
                entrypoint="etl.py:etl",
                work_pool="default",
                schedules=[{"cron": "0 2 * * *", "timezone": "Europe/Paris"}],
            )
        )
        harness.runs.deployments[str(row.id)] = harness.runs.add_deployment("etl", "nightly")
        harness.automations = AutomationRegistry(store)  # type: ignore[assignment]
        await harness.engine()
        slot = T0.replace(day=2, hour=0)  # 02:00 in Paris (CEST) on 2026-06-02
        harness.clock.set(slot - timedelta(milliseconds=1))
        await harness.no_report(TRIGGERED)
        harness.clock.set(slot)
        request = await harness.runs.next_request()
        assert request.deployment == str(row.id)
        assert request.scheduled_time == slot
        harness.clock.set(slot + timedelta(hours=23))
        await harness.report(TRIGGERED)
        await harness.no_report(TRIGGERED)
        assert len(harness.runs.requests) == 1
    finally:
        for engine in harness.engines:
            await engine.stop()
        harness.engines.clear()
        await store.close()
