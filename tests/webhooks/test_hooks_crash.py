"""A delivery whose first attempt was never answered 2xx — the server died between claiming its
delivery id and answering, or JetStream did not acknowledge it — is accepted when the sender
retries, and stored once; only a delivery that was answered 2xx is a replay. On real NATS,
with both replay guards, and with a real ``proctor server start`` killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import httpx
import nats.js.kv
import pytest

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import JetStreamEventBus, PublishReceipt
from proctor.events.bus.jetstream import connect_nats
from proctor.events.model import Event, WireEvent
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.api.serve import free_port
from proctor.runtime.store import Store
from proctor.runtime.webhooks import (
    InMemoryReplayGuard,
    ReplayGuard,
    WebhookCreate,
    WebhookPreset,
    WebhookRequest,
    delivery_event_id,
    replay_key,
)
from proctor.runtime.webhooks.receiver import WebhookReceiver
from proctor.runtime.webhooks.registry import WebhookRegistry
from proctor.runtime.webhooks.replay_kv import JetStreamReplayGuard
from tests.chaos.processes import ProctorProcess
from tests.webhooks.signers import GITHUB_SAMPLES, SECRETS, signed

pytestmark = pytest.mark.nats

SLUG = "crash"
SECRET = SECRETS[WebhookPreset.GITHUB]
RAW = (GITHUB_SAMPLES / "push-payload.json").read_bytes()


class ServerDied(Exception):
    """Stands in for ``kill -9``: the request's coroutine never gets to answer."""


Publish = Callable[[Sequence[Event | WireEvent]], Awaitable[list[PublishReceipt]]]


def faulty(publish: Publish, fault: str) -> Publish:
    """``publish_many`` (what the receiver publishes with) failing as ``fault`` says."""

    async def failing(events: Sequence[Event | WireEvent]) -> list[PublishReceipt]:
        if fault == "dies after the ack":
            await publish(events)
            raise ServerDied
        if fault == "dies before publishing":
            raise ServerDied
        raise BrokerUnavailableError("JetStream did not acknowledge")

    return failing


async def stored(bus: JetStreamEventBus, name: str) -> int:
    """How many messages the event stream holds on ``name``'s subject."""
    subject = bus.naming.event_subject(name)
    info = await bus.js.stream_info(bus.naming.events_stream, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[WebhookRegistry]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as store:
        webhooks = WebhookRegistry(store)
        await webhooks.create(WebhookCreate(slug=SLUG, preset=WebhookPreset.GITHUB, secret=SECRET))
        yield webhooks


GuardOpener = Callable[[], Awaitable[ReplayGuard]]


@pytest.fixture(params=["memory", "jetstream"])
async def open_guard(request: pytest.FixtureRequest, naming: Naming) -> AsyncIterator[GuardOpener]:
    """Opens the replay guard as a server process would: in memory, the same one each time (the
    request died, the process lived on); in NATS KV, over a new connection each time (a new
    process)."""
    if request.param == "memory":
        guard = InMemoryReplayGuard()

        async def same() -> ReplayGuard:
            return guard

        yield same
        return
    url = request.getfixturevalue("nats_server").url
    connections = []

    async def fresh() -> ReplayGuard:
        nc = await connect_nats(url)
        connections.append(nc)
        return await JetStreamReplayGuard.open(nc, nc.jetstream(), naming)

    yield fresh
    await connections[0].jetstream().delete_key_value(naming.webhook_deliveries_bucket)
    for nc in connections:
        await nc.close()


@pytest.mark.parametrize(
    "fault", ["dies before publishing", "dies after the ack", "is not acknowledged"]
)
async def test_a_delivery_never_answered_is_accepted_on_retry_and_stored_once(
    fault: str,
    jetstream_bus: JetStreamEventBus,
    registry: WebhookRegistry,
    open_guard: GuardOpener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = signed(WebhookPreset.GITHUB, RAW)
    assert sent.delivery_id is not None
    request = WebhookRequest.of(RAW, sent.headers)
    first = WebhookReceiver(jetstream_bus, registry, await open_guard())
    with monkeypatch.context() as patch:
        patch.setattr(jetstream_bus, "publish_many", faulty(jetstream_bus.publish_many, fault))
        if fault == "is not acknowledged":
            assert (await first.receive(SLUG, request)).status == 503
        else:
            with pytest.raises(ServerDied):
                await first.receive(SLUG, request)

    restarted = WebhookReceiver(jetstream_bus, registry, await open_guard())
    retry = await restarted.receive(SLUG, request)

    assert retry.status == 202, retry.body
    assert retry.body == {
        "event_id": str(delivery_event_id(SLUG, sent.delivery_id)),
        "duplicate": fault == "dies after the ack",  # JetStream had it: stored once
    }
    await restarted.answered(retry)  # the 202 was sent: from now on, a replay
    replay = await restarted.receive(SLUG, request)
    assert replay.status == 401
    assert replay.body["error"]["reason"] == "replayed"
    assert await stored(jetstream_bus, f"webhook.{SLUG}") == 1


async def test_a_retry_racing_its_first_attempt_is_accepted_too_and_stored_once(
    jetstream_bus: JetStreamEventBus, registry: WebhookRegistry, open_guard: GuardOpener
) -> None:
    sent = signed(WebhookPreset.GITHUB, RAW)
    request = WebhookRequest.of(RAW, sent.headers)
    receivers = [WebhookReceiver(jetstream_bus, registry, await open_guard()) for _ in range(2)]

    replies = await asyncio.gather(*(r.receive(SLUG, request) for r in receivers))

    assert [reply.status for reply in replies] == [202, 202]
    assert sorted(reply.body["duplicate"] for reply in replies) == [False, True]
    assert await stored(jetstream_bus, f"webhook.{SLUG}") == 1


# -- a real server, killed with SIGKILL after the claim, before the answer --------------------


@contextlib.contextmanager
def own_nats(folder: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def pending_claim(watcher: nats.js.kv.KeyValue.KeyWatcher) -> bytes:
    """The value of the first claim written under the watched key."""
    while True:
        entry = await watcher.updates(timeout=30)  # a backstop: nats' TimeoutError
        if entry is not None and entry.value:
            return bytes(entry.value)


@pytest.mark.slow
async def test_kill_9_between_the_claim_and_the_answer_the_senders_retry_is_accepted_once(
    tmp_path: Path,
) -> None:
    sent = signed(WebhookPreset.GITHUB, RAW)
    assert sent.delivery_id is not None
    naming = Naming()
    port = free_port()
    with own_nats(tmp_path / "nats") as broker:
        env = {"PROCTOR_HOME": str(tmp_path / "home"), "PROCTOR_NATS_URL": broker.url}
        servers: list[ProctorProcess] = []

        async def start_server() -> None:
            servers.append(
                ProctorProcess(
                    "server", "start", "--port", str(port), env=env, log=tmp_path / "server.log"
                )
            )
            await servers[-1].start()

        bus: JetStreamEventBus | None = None
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            await start_server()
            created = await http.post(
                "/api/webhooks", json={"slug": SLUG, "preset": "github", "secret": SECRET}
            )
            assert created.status_code == 201, created.text
            bus = await JetStreamEventBus.connect(broker.url, naming=naming, declare=False)
            # Hold the publish: the event stream stops taking webhook subjects, so the server,
            # once it has claimed the delivery, waits for JetStream (up to 5 s) to answer.
            config = (await bus.js.stream_info(naming.events_stream)).config
            config.subjects = [f"{naming.events_prefix}.proctor.>"]
            await bus.js.update_stream(config)
            kv = await bus.js.key_value(naming.webhook_deliveries_bucket)
            watcher = await kv.watch(replay_key(SLUG, sent.delivery_id))

            first = asyncio.create_task(
                http.post(f"/hooks/{SLUG}", content=RAW, headers=sent.headers)
            )
            assert (await pending_claim(watcher)).endswith(b" pending")
            await servers[-1].kill()
            with pytest.raises(httpx.TransportError):
                await first  # no answer: the sender will retry
            await watcher.stop()

            await start_server()  # it declares the event stream again: webhook subjects back
            retry = await http.post(f"/hooks/{SLUG}", content=RAW, headers=sent.headers)
            assert retry.status_code == 202, retry.text
            assert retry.json() == {
                "event_id": str(delivery_event_id(SLUG, sent.delivery_id)),
                "duplicate": False,
            }
            replay = await http.post(f"/hooks/{SLUG}", content=RAW, headers=sent.headers)
            assert replay.status_code == 401
            assert replay.json()["error"]["reason"] == "replayed"
            assert await stored(bus, f"webhook.{SLUG}") == 1
        finally:
            await http.aclose()
            for server in servers:
                await server.stop()
            if bus is not None:
                await bus.close()
