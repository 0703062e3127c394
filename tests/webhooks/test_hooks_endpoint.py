"""``POST /hooks/{slug}`` on a real local server (embedded NATS, SQLite): each preset's valid
request becomes one stored event; refusals get the right status, store no event but a
``proctor.webhook.rejected`` one; a broker outage answers 503 and the sender's retry passes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import proctor
from proctor.events.model import Event
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.store import EventFilter
from proctor.runtime.webhooks import (
    MAX_WEBHOOK_BODY_BYTES,
    REJECTED_EVENT,
    WebhookPreset,
    delivery_event_id,
)
from tests.webhooks.signers import GITHUB_SAMPLES, SECRETS, STANDARD_SECRET, sample_body, signed

pytestmark = [pytest.mark.nats, pytest.mark.asyncio(loop_scope="module")]

SIGNED_PRESETS = [p for p in WebhookPreset if p is not WebhookPreset.NONE]
TIMESTAMPED = [WebhookPreset.STRIPE, WebhookPreset.SLACK, WebhookPreset.STANDARD]
WITH_DELIVERY_ID = [p for p in SIGNED_PRESETS if p is not WebhookPreset.SHARED_SECRET]


@pytest.fixture
def server(shared_server: LocalServer) -> LocalServer:
    return shared_server


@pytest.fixture
def client(shared_client: ProctorClient) -> ProctorClient:
    return shared_client


@pytest.fixture
def http(shared_http: httpx.AsyncClient) -> httpx.AsyncClient:
    return shared_http


async def create_webhook(client: ProctorClient, preset: WebhookPreset, **fields: Any) -> str:
    slug = f"{preset.value}-{uuid.uuid4().hex[:8]}"
    await client.webhooks.create(slug=slug, preset=preset, secret=SECRETS.get(preset), **fields)
    return slug


async def stored(server: LocalServer, name: str, slug: str) -> list[Event]:
    """Events ``name`` about webhook ``slug`` in the store, once all published is recorded."""
    assert server.bus is not None
    assert server.store is not None
    last = (await server.bus.stats()).last_sequence
    await server.recorders[0].wait_recorded(last, 60)
    where = EventFilter(names=[name], resource_ids=[f"proctor.webhook.{slug}"])
    return (await server.store.events.query(where, limit=1000)).items


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("preset", SIGNED_PRESETS)
async def test_a_valid_request_is_answered_202_once_its_event_is_stored(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, preset: WebhookPreset
) -> None:
    slug = await create_webhook(client, preset)
    body = sample_body(preset)
    request = signed(preset, json.dumps(body).encode(), at=now())

    answer = await http.post(f"/hooks/{slug}", content=request.body, headers=request.headers)

    assert answer.status_code == 202, answer.text
    (event,) = await stored(server, f"webhook.{slug}", slug)
    assert str(event.id) == answer.json()["event_id"]
    assert {k: v for k, v in event.payload.items() if k != "headers"} == body
    assert event.resource.id == f"proctor.webhook.{slug}"
    assert event.resource.get("proctor.webhook.delivery-id") == request.delivery_id
    if request.delivery_id is not None:  # a retry of it would carry the same id
        assert event.id == delivery_event_id(slug, request.delivery_id)
    assert await stored(server, REJECTED_EVENT, slug) == []


@pytest.mark.parametrize("sample", sorted(GITHUB_SAMPLES.glob("*.json")), ids=lambda p: p.name)
async def test_real_github_deliveries_are_stored_with_their_payload(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, sample: Any
) -> None:
    slug = await create_webhook(client, WebhookPreset.GITHUB)
    raw = sample.read_bytes()  # the exact bytes GitHub signs
    kind = sample.name.split("-")[0].split(".")[0]
    request = signed(WebhookPreset.GITHUB, raw)
    headers = {**request.headers, "X-GitHub-Event": kind}

    answer = await http.post(f"/hooks/{slug}", content=raw, headers=headers)

    assert answer.status_code == 202, answer.text
    (event,) = await stored(server, f"webhook.{slug}", slug)
    assert event.payload == {**json.loads(raw), "headers": {"x-github-event": kind}}


@pytest.mark.parametrize("preset", SIGNED_PRESETS)
async def test_a_wrong_signature_is_401_with_a_rejection_event_and_no_event(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, preset: WebhookPreset
) -> None:
    slug = await create_webhook(client, preset)
    body = json.dumps(sample_body(preset)).encode()
    wrong = STANDARD_SECRET.replace("a", "b") if preset is WebhookPreset.STANDARD else "wrong"
    request = signed(preset, body, at=now(), secret=wrong)

    answer = await http.post(f"/hooks/{slug}", content=body, headers=request.headers)

    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "bad_signature"
    assert await stored(server, f"webhook.{slug}", slug) == []
    (rejection,) = await stored(server, REJECTED_EVENT, slug)
    assert rejection.resource.id == f"proctor.webhook.{slug}"
    assert rejection.payload["reason"] == "bad_signature"
    assert rejection.payload["status"] == 401
    text = rejection.model_dump_json()
    assert SECRETS[preset] not in text
    assert body.decode() not in text


@pytest.mark.parametrize("preset", TIMESTAMPED)
async def test_a_stale_timestamp_is_401_and_no_event(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, preset: WebhookPreset
) -> None:
    slug = await create_webhook(client, preset)
    request = signed(
        preset, json.dumps(sample_body(preset)).encode(), at=now() - timedelta(minutes=10)
    )

    answer = await http.post(f"/hooks/{slug}", content=request.body, headers=request.headers)

    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "stale_timestamp"
    assert await stored(server, f"webhook.{slug}", slug) == []
    assert [e.payload["reason"] for e in await stored(server, REJECTED_EVENT, slug)] == [
        "stale_timestamp"
    ]


@pytest.mark.parametrize("preset", WITH_DELIVERY_ID)
async def test_a_replayed_delivery_is_401_and_stored_once(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, preset: WebhookPreset
) -> None:
    slug = await create_webhook(client, preset)
    request = signed(preset, json.dumps(sample_body(preset)).encode(), at=now())

    first = await http.post(f"/hooks/{slug}", content=request.body, headers=request.headers)
    again = await http.post(f"/hooks/{slug}", content=request.body, headers=request.headers)

    assert first.status_code == 202
    assert again.status_code == 401
    assert again.json()["error"]["reason"] == "replayed"
    assert len(await stored(server, f"webhook.{slug}", slug)) == 1
    assert [e.payload["reason"] for e in await stored(server, REJECTED_EVENT, slug)] == ["replayed"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_413_and_no_event(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, chunked: bool
) -> None:
    slug = await create_webhook(client, WebhookPreset.GITHUB)
    body = b'{"a": "' + b"x" * MAX_WEBHOOK_BODY_BYTES + b'"}'
    headers = signed(WebhookPreset.GITHUB, body).headers

    async def stream() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    content = stream() if chunked else body
    answer = await http.post(f"/hooks/{slug}", content=content, headers=headers)

    assert answer.status_code == 413
    assert answer.json()["error"]["reason"] == "too_large"
    assert await stored(server, f"webhook.{slug}", slug) == []
    assert [e.payload["reason"] for e in await stored(server, REJECTED_EVENT, slug)] == [
        "too_large"
    ]


async def test_an_unknown_slug_is_404_saying_nothing_more(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    slug = f"nobody-{uuid.uuid4().hex[:8]}"
    answer = await http.post(f"/hooks/{slug}", content=b"{}")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"message": "not found"}}
    (rejection,) = await stored(server, REJECTED_EVENT, slug)
    assert rejection.payload["reason"] == "unknown_webhook"


async def test_a_body_that_is_not_json_is_400_saying_why(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    slug = await create_webhook(client, WebhookPreset.GITHUB)
    body = b"{not json"
    answer = await http.post(
        f"/hooks/{slug}", content=body, headers=signed(WebhookPreset.GITHUB, body).headers
    )
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]["message"]
    assert await stored(server, f"webhook.{slug}", slug) == []


async def test_a_template_builds_the_event(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    template = {
        "event": "github.{{ headers['x-github-event'] }}",
        "resource": {"proctor.resource.id": "github.repo.{{ body.repository.id }}"},
        "payload": {"sha": "{{ body.after }}", "pusher": "{{ body.pusher.name }}"},
    }
    slug = await create_webhook(client, WebhookPreset.GITHUB, event_template=template)
    raw = (GITHUB_SAMPLES / "push-payload.json").read_bytes()
    push = json.loads(raw)
    answer = await http.post(
        f"/hooks/{slug}", content=raw, headers=signed(WebhookPreset.GITHUB, raw).headers
    )
    assert answer.status_code == 202, answer.text
    assert server.store is not None
    await stored(server, "github.push", slug)
    where = EventFilter(names=["github.push"], related_resource_ids=[f"proctor.webhook.{slug}"])
    (event,) = (await server.store.events.query(where)).items
    assert event.payload == {"sha": push["after"], "pusher": push["pusher"]["name"]}
    assert event.resource.id == f"github.repo.{push['repository']['id']}"
    deliveries = await client.webhooks.deliveries(slug)
    assert [(d.outcome, d.event) for d in deliveries] == [("accepted", "github.push")]


async def test_webhook_apply_creates_then_updates_keeping_the_secret(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    name = f"applied-{uuid.uuid4().hex[:8]}"
    first = await proctor.Webhook(slug=name, preset=WebhookPreset.GITHUB).aapply(client=client)
    assert first.created
    assert first.secret is not None
    secret = first.secret.get_secret_value()

    changed = proctor.Webhook(slug=name, preset="github", description="pushes", keep_headers=[])
    second = await changed.aapply(client=client)
    assert not second.created
    assert second.secret is None
    assert second.webhook.description == "pushes"
    raw = (GITHUB_SAMPLES / "push-payload.json").read_bytes()
    request = signed(WebhookPreset.GITHUB, raw, secret=secret)
    answer = await http.post(f"/hooks/{name}", content=raw, headers=request.headers)
    assert answer.status_code == 202, answer.text
    (event,) = await stored(server, f"webhook.{name}", name)
    assert "headers" not in event.payload  # the update took effect at once

    replaced = proctor.Webhook(slug=name, preset="github", secret="brand-new")
    assert (await replaced.aapply(client=client)).secret is None
    again = signed(WebhookPreset.GITHUB, raw, secret=secret)
    assert (
        await http.post(f"/hooks/{name}", content=raw, headers=again.headers)
    ).status_code == 401


async def test_recent_deliveries_list_accepted_and_refused_requests(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    slug = await create_webhook(client, WebhookPreset.STANDARD)
    body = json.dumps(sample_body(WebhookPreset.STANDARD)).encode()
    good = signed(WebhookPreset.STANDARD, body, at=now(), delivery="msg_good")
    stale = signed(WebhookPreset.STANDARD, body, at=now() - timedelta(hours=1), delivery="msg_old")
    assert (
        await http.post(f"/hooks/{slug}", content=body, headers=good.headers)
    ).status_code == 202
    assert (
        await http.post(f"/hooks/{slug}", content=body, headers=stale.headers)
    ).status_code == 401
    await stored(server, REJECTED_EVENT, slug)  # recorded

    recent = await client.webhooks.deliveries(slug, limit=10)

    assert [(d.outcome, d.status, d.reason) for d in recent] == [
        ("rejected", 401, "stale_timestamp"),
        ("accepted", None, None),
    ]
    assert recent[1].delivery_id == "msg_good"
    assert recent[1].event == f"webhook.{slug}"
    assert "webhook-timestamp" in (recent[0].message or "")


async def test_keep_alive_answers_are_not_held_back_by_nagle(server: LocalServer) -> None:
    """A response written in two parts (headers, body) must not wait for the sender's delayed
    ACK (~40 ms each): the API's sockets need TCP_NODELAY."""
    host, port = server.api_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    took: list[float] = []
    try:
        for _ in range(15):
            started = time.perf_counter()
            writer.write(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            took.append(time.perf_counter() - started)
    finally:
        writer.close()
    assert sorted(took)[len(took) // 2] < 0.03
