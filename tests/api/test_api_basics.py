"""Health, auth, error shapes, body limits and the live event stream of the API."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from proctor.core.errors import ApiError, ConfigurationError
from proctor.core.settings import ProctorSettings
from proctor.events.bus import InMemoryEventBus
from proctor.events.model import Event
from proctor.runtime.api.app import MAX_REQUEST_BYTES, create_app
from proctor.runtime.api.auth import Scope, check_bind_allowed
from proctor.runtime.api.serve import ApiServer
from proctor.runtime.client import ApiTransport, ProctorClient
from proctor.runtime.run_events import StateType
from proctor.runtime.store import Projection, Store, TaskRunFilter
from tests.api.conftest import MemoryTokens, services
from tests.store.factory import FlowWithTasks


async def test_health_needs_no_token(secured: httpx.AsyncClient) -> None:
    response = await secured.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_no_token_is_401(secured: httpx.AsyncClient) -> None:
    response = await secured.get("/api/events/stream")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in response.json()["error"]["message"]


async def test_unknown_token_is_401(secured: httpx.AsyncClient) -> None:
    response = await secured.get(
        "/api/events/stream", headers={"Authorization": "Bearer pct_not-a-real-token"}
    )
    assert response.status_code == 401


async def test_read_token_on_a_write_route_is_403(
    secured: httpx.AsyncClient, tokens: MemoryTokens
) -> None:
    token = tokens.create("dashboard", Scope.READ)
    body = {"event": "a.b", "resource": {"proctor.resource.id": "x"}}
    response = await secured.post(
        "/api/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert "scope read" in response.json()["error"]["message"]
    assert token not in response.text


async def test_write_token_publishes(
    secured: httpx.AsyncClient, tokens: MemoryTokens, memory_bus: InMemoryEventBus
) -> None:
    token = tokens.create("ci", Scope.WRITE)
    body = {"event": "a.b", "resource": {"proctor.resource.id": "x"}, "payload": {"n": 1}}
    response = await secured.post(
        "/api/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    assert [e.payload for e in memory_bus.events] == [{"n": 1}]


async def test_invalid_event_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    body = {"event": "a..b", "resource": {"proctor.resource.id": "x"}}
    response = await client.post("/api/events", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.event"


def test_binding_beyond_loopback_needs_auth() -> None:
    with pytest.raises(ConfigurationError, match="PROCTOR_API_AUTH=token"):
        check_bind_allowed(ProctorSettings(), "0.0.0.0")
    check_bind_allowed(ProctorSettings(), "127.0.0.1")
    check_bind_allowed(ProctorSettings(), "::1")
    check_bind_allowed(ProctorSettings(api_auth="token"), "0.0.0.0")


async def test_bad_filter_is_a_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/events/stream", params={"name": "a..b"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "event"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/anything", content=b"x" * (MAX_REQUEST_BYTES + 1))
    assert response.status_code == 413


async def test_live_stream_over_sse(
    memory_bus: InMemoryEventBus, store: Store, tokens: MemoryTokens
) -> None:
    server = ApiServer(create_app(services(memory_bus, store, tokens, "none")), "127.0.0.1", 0)
    await server.start()
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
            http.stream("GET", "/api/events/stream", params={"name": "shop.>"}) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == ": connected"
            sent = Event.build("shop.order.created", {"proctor.resource.id": "o.1"})
            await memory_bus.publish(Event.build("other.thing", {"proctor.resource.id": "x"}))
            await memory_bus.publish(sent)
            data = ""
            async for line in lines:
                if line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    break
            assert json.loads(data)["id"] == str(sent.id)
    finally:
        await asyncio.wait_for(server.stop(), 10)


async def test_client_publishes_and_maps_errors(
    memory_bus: InMemoryEventBus, store: Store, tokens: MemoryTokens
) -> None:
    app = create_app(services(memory_bus, store, tokens, "token"))
    token = tokens.create("ci", Scope.WRITE)
    asgi = httpx.ASGITransport(app=app)
    good = ProctorClient(ApiTransport("http://proctor", api_key=token, transport=asgi))
    anonymous = ProctorClient(ApiTransport("http://proctor", transport=asgi))
    event = Event.build("a.b", {"proctor.resource.id": "x"})
    try:
        assert await good.health()
        assert await good.events.publish(event) == 1
        with pytest.raises(ApiError) as caught:
            await anonymous.events.publish(event)
        assert caught.value.status == 401
        assert token not in str(caught.value)
    finally:
        await good.close()
        await anonymous.close()


async def test_task_runs_are_counted_by_filter(
    memory_bus: InMemoryEventBus, store: Store, tokens: MemoryTokens
) -> None:
    flow = FlowWithTasks(tasks=3)
    projection = Projection(consumer="test", now=datetime.now(UTC))
    for sequence, event in enumerate(flow.events()[:-1], start=1):  # the last task: Running
        projection.add(sequence, event.event, event.to_wire())
    await store.record(projection)
    asgi = httpx.ASGITransport(app=create_app(services(memory_bus, store, tokens, "none")))
    async with ProctorClient(ApiTransport("http://proctor", transport=asgi)) as client:
        of_the_run = TaskRunFilter(flow_run_ids=[flow.flow_run.id])
        completed = of_the_run.model_copy(update={"state_types": [StateType.COMPLETED]})
        assert await client.task_runs.count(of_the_run) == 3
        assert await client.task_runs.count(completed) == 2
        assert await client.task_runs.count(TaskRunFilter(flow_run_ids=[uuid.uuid4()])) == 0
