"""Wiring a webhook to a flow is one automation: a signed GitHub push to a real local server
→ ``on_event("webhook.<slug>", where=...)`` → ``RunDeployment(parameters={"sha": "{{
event.payload.after }}"})`` → one run request with that parameter; one too when the sender
retries after a 503 (broker down) or after an answer that never came. The engine runs on the
server's JetStream; the run control is the automations' in-memory fake (the runtime's run
control is not wired into the server yet)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from proctor import Automation, RunDeployment, on_event
from proctor.automations.engine import AutomationEngine, InMemoryAutomations, InMemoryKeyValue
from proctor.automations.execution import ActionServices
from proctor.core.settings import ProctorSettings
from proctor.events.bus import JetStreamEventBus, PublishReceipt
from proctor.events.model import Event, WireEvent
from proctor.events.naming import Naming
from proctor.runtime.automation_service.clock import SystemEngineClock
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.store import EventFilter
from proctor.runtime.webhooks import WebhookPreset
from proctor.triggers.state import InMemoryTriggerStateStore
from tests.automations.conftest import TEST_OPTIONS
from tests.automations.fakes import FakeRuns, RecordingSender
from tests.webhooks.conftest import broker_down
from tests.webhooks.signers import GITHUB_SAMPLES, SECRETS, signed

pytestmark = pytest.mark.nats

SLUG = "github-push"
BRANCH_PUSH = (GITHUB_SAMPLES / "push-with-new-branch.payload.json").read_bytes()  # master
TAG_PUSH = (GITHUB_SAMPLES / "push-payload.json").read_bytes()  # refs/tags/simple-tag


@pytest.fixture
async def server(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    """A server without its own automation engine: this test runs one with fake run control
    (two engines would share the durable consumer and split the events between them)."""
    running = LocalServer(ProctorSettings(), port=0, services=[])
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def engine_and_runs(server: LocalServer) -> AsyncIterator[FakeRuns]:
    """The automation engine on the server's event stream, with one automation."""
    runs = FakeRuns()
    runs.add_deployment("build", "ci")
    automations = InMemoryAutomations()
    automations.put(
        Automation(
            name="build pushes to master",
            trigger=on_event(f"webhook.{SLUG}", where="$.payload.ref == 'refs/heads/master'"),
            actions=[
                RunDeployment(
                    deployment="build/ci", parameters={"sha": "{{ event.payload.after }}"}
                )
            ],
        )
    )
    bus = await JetStreamEventBus.connect(
        server.nats_url, naming=Naming(server.settings.namespace), declare=False
    )
    engine = AutomationEngine(
        bus,
        source=automations,
        services=ActionServices(
            runs=runs,
            automations=automations,
            publisher=bus,
            slack=RecordingSender(),
            webhooks=RecordingSender(),
        ),
        clock=SystemEngineClock(),
        trigger_state=InMemoryTriggerStateStore(),
        guard_state=InMemoryKeyValue(),
        options=TEST_OPTIONS,
    )
    await engine.start()
    yield runs
    await engine.stop(drain_s=2)
    await bus.close()


async def test_a_signed_push_runs_the_deployment_once_with_its_sha(
    server: LocalServer,
    client: ProctorClient,
    http: httpx.AsyncClient,
    engine_and_runs: FakeRuns,
) -> None:
    runs = engine_and_runs
    secret = SECRETS[WebhookPreset.GITHUB]
    await client.webhooks.create(slug=SLUG, preset=WebhookPreset.GITHUB, secret=secret)
    tag, branch = signed(WebhookPreset.GITHUB, TAG_PUSH), signed(WebhookPreset.GITHUB, BRANCH_PUSH)

    async def post(request_body: bytes, headers: dict[str, str]) -> int:
        return (
            await http.post(f"/hooks/{SLUG}", content=request_body, headers=headers)
        ).status_code

    assert await post(TAG_PUSH, tag.headers) == 202  # filtered out by where
    assert await post(BRANCH_PUSH, branch.headers) == 202
    assert await post(BRANCH_PUSH, branch.headers) == 401  # a replay: no event, no run

    request = await runs.next_request(timeout_s=30)
    assert request.deployment == "build/ci"
    assert request.parameters == {"sha": json.loads(BRANCH_PUSH)["after"]}
    assert len(runs.requests) == 1  # the tag push came first in the stream: it made none
    assert server.store is not None
    assert server.bus is not None
    await server.recorders[0].wait_recorded((await server.bus.stats()).last_sequence, 60)
    stored = await server.store.events.query(EventFilter(names=[f"webhook.{SLUG}"]))
    assert len(stored.items) == 2


async def one_run_from(server: LocalServer, runs: FakeRuns) -> None:
    """The branch push made one run request with its sha, and is stored once."""
    request = await runs.next_request(timeout_s=60)
    assert request.parameters == {"sha": json.loads(BRANCH_PUSH)["after"]}
    assert server.bus is not None
    assert server.store is not None
    await server.recorders[0].wait_recorded((await server.bus.stats()).last_sequence, 60)
    stored = await server.store.events.query(EventFilter(names=[f"webhook.{SLUG}"]))
    assert len(stored.items) == 1
    assert len(runs.requests) == 1


async def test_a_delivery_stored_but_never_answered_runs_once_when_the_sender_retries(
    server: LocalServer,
    client: ProctorClient,
    http: httpx.AsyncClient,
    engine_and_runs: FakeRuns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = SECRETS[WebhookPreset.GITHUB]
    await client.webhooks.create(slug=SLUG, preset=WebhookPreset.GITHUB, secret=secret)
    branch = signed(WebhookPreset.GITHUB, BRANCH_PUSH)
    assert server.bus is not None
    publish = server.bus.publish_many  # what the receiver publishes with

    async def stored_then_failed(events: Sequence[Event | WireEvent]) -> list[PublishReceipt]:
        await publish(events)
        raise RuntimeError("the server failed after JetStream stored the event")

    with monkeypatch.context() as patch:
        patch.setattr(server.bus, "publish_many", stored_then_failed)
        first = await http.post(f"/hooks/{SLUG}", content=BRANCH_PUSH, headers=branch.headers)
    assert first.status_code == 500  # not a 2xx: the sender retries
    retry = await http.post(f"/hooks/{SLUG}", content=BRANCH_PUSH, headers=branch.headers)
    assert retry.status_code == 202
    assert retry.json()["duplicate"] is True
    replay = await http.post(f"/hooks/{SLUG}", content=BRANCH_PUSH, headers=branch.headers)
    assert replay.status_code == 401
    await one_run_from(server, engine_and_runs)


async def test_broker_down_is_503_and_the_senders_retry_runs_the_deployment_once(
    server: LocalServer,
    client: ProctorClient,
    http: httpx.AsyncClient,
    engine_and_runs: FakeRuns,
) -> None:
    secret = SECRETS[WebhookPreset.GITHUB]
    await client.webhooks.create(slug=SLUG, preset=WebhookPreset.GITHUB, secret=secret)
    branch = signed(WebhookPreset.GITHUB, BRANCH_PUSH)
    async with broker_down(server):
        down = await http.post(f"/hooks/{SLUG}", content=BRANCH_PUSH, headers=branch.headers)
        assert down.status_code == 503

    retry = await http.post(f"/hooks/{SLUG}", content=BRANCH_PUSH, headers=branch.headers)
    assert retry.status_code == 202, retry.text
    await one_run_from(server, engine_and_runs)
