"""Fixtures: a fake clock (no real waiting), local fake HTTP servers, and a whole local server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from proctor.core.settings import ProctorSettings
from proctor.runtime.client import ApiTransport, ProctorClient
from proctor.runtime.server import LocalServer
from tests.webhooks.fake_http import FakeHttpServer, Reply


class FakeClock:
    """Monotonic seconds that only move when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ServerFactory = Callable[..., Awaitable[FakeHttpServer]]


@pytest.fixture
async def http_server(clock: FakeClock) -> AsyncIterator[ServerFactory]:
    """Start scripted servers on 127.0.0.1 (free ports); all are stopped after the test."""
    servers: list[FakeHttpServer] = []

    async def start(*replies: Reply) -> FakeHttpServer:
        server = await FakeHttpServer(*replies, clock=clock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


# --- a whole local server (embedded NATS, SQLite, recorders, API) for end-to-end tests ---


@pytest.fixture
async def server(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    """A server of the test's own (for tests that stop its broker or restart it)."""
    running = LocalServer(ProctorSettings(), port=0)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def client(server: LocalServer) -> AsyncIterator[ProctorClient]:
    async with ProctorClient(ApiTransport(server.api_url)) as api:
        yield api


@pytest.fixture
async def http(server: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the server, as a webhook sender would send."""
    async with httpx.AsyncClient(base_url=server.api_url, timeout=30) as sender:
        yield sender


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalServer]:
    """One server for a whole module (its tests use slugs of their own); tests using it run
    with ``pytest.mark.asyncio(loop_scope="module")``."""
    home = tmp_path_factory.mktemp("proctor-home")
    settings = ProctorSettings(home=home, nats_url=None, database_url=None, api_url=None)
    running = LocalServer(settings, host="127.0.0.1", port=0)
    await running.start()
    yield running
    await running.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def shared_client(shared_server: LocalServer) -> AsyncIterator[ProctorClient]:
    async with ProctorClient(ApiTransport(shared_server.api_url)) as api:
        yield api


@pytest_asyncio.fixture(loop_scope="module")
async def shared_http(shared_server: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shared_server.api_url, timeout=30) as sender:
        yield sender


@contextlib.asynccontextmanager
async def broker_down(server: LocalServer) -> AsyncIterator[None]:
    """The server's embedded NATS stopped for the block; started again after it (same port,
    same store), returning once the server's bus has reconnected."""
    assert server.embedded is not None
    assert server.bus is not None
    back = asyncio.Event()
    chained = server.bus.nc._reconnected_cb  # nats-py has no public way to add a callback

    async def on_reconnect() -> None:
        back.set()
        if chained is not None:
            await chained()

    server.bus.nc._reconnected_cb = on_reconnect
    server.embedded.stop()  # the broker is gone; the API keeps answering
    try:
        yield
    finally:
        server.embedded.start()
        await asyncio.wait_for(back.wait(), 30)
