"""Webhooks through broker outages and server restarts, on a real local server: 503 while
NATS is down, the sender's retry accepted once it is back (one event), and delivery ids
remembered across a restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from proctor.core.settings import ProctorSettings
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.store import EventFilter
from proctor.runtime.webhooks import WebhookPreset, delivery_event_id
from tests.webhooks.conftest import broker_down
from tests.webhooks.signers import GITHUB_SAMPLES, SECRETS, signed

pytestmark = pytest.mark.nats

RAW = (GITHUB_SAMPLES / "push-payload.json").read_bytes()


async def github_webhook(client: ProctorClient, slug: str) -> str:
    secret = SECRETS[WebhookPreset.GITHUB]
    await client.webhooks.create(slug=slug, preset=WebhookPreset.GITHUB, secret=secret)
    return slug


async def accepted_events(server: LocalServer, slug: str) -> list[str]:
    assert server.bus is not None
    assert server.store is not None
    await server.recorders[0].wait_recorded((await server.bus.stats()).last_sequence, 60)
    where = EventFilter(names=[f"webhook.{slug}"])
    return [str(event.id) for event in (await server.store.events.query(where)).items]


async def test_broker_down_is_503_and_the_senders_retry_is_accepted_once(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    slug = await github_webhook(client, "outage")
    request = signed(WebhookPreset.GITHUB, RAW)
    async with broker_down(server):
        down = await http.post(f"/hooks/{slug}", content=RAW, headers=request.headers)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0

    retry = await http.post(f"/hooks/{slug}", content=RAW, headers=request.headers)
    assert retry.status_code == 202, retry.text
    again = await http.post(f"/hooks/{slug}", content=RAW, headers=request.headers)
    assert again.status_code == 401  # once accepted, the same delivery is a replay
    assert again.json()["error"]["reason"] == "replayed"
    assert request.delivery_id is not None
    assert await accepted_events(server, slug) == [
        str(delivery_event_id(slug, request.delivery_id))
    ]


async def test_delivery_ids_are_remembered_across_a_server_restart(
    isolated_environment: Path,
) -> None:
    request = signed(WebhookPreset.GITHUB, RAW)
    first = LocalServer(ProctorSettings(), port=0)
    await first.start()
    try:
        async with ProctorClient.from_settings() as client:
            slug = await github_webhook(client, "restarted")
        async with httpx.AsyncClient(base_url=first.api_url) as http:
            answer = await http.post(f"/hooks/{slug}", content=RAW, headers=request.headers)
            assert answer.status_code == 202
    finally:
        await first.stop()

    second = LocalServer(ProctorSettings(), port=0)  # same home: same NATS store and SQLite
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=second.api_url) as http:
            replay = await http.post(f"/hooks/{slug}", content=RAW, headers=request.headers)
        assert replay.status_code == 401
        assert replay.json()["error"]["reason"] == "replayed"
        assert len(await accepted_events(second, slug)) == 1
    finally:
        await second.stop()
