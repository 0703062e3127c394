"""A whole local server (embedded NATS, SQLite, recorders, API) per test, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from proctor.core.settings import ProctorSettings
from proctor.events.naming import Naming
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer


@pytest.fixture
async def server(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    running = LocalServer(ProctorSettings(), port=0)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def client(server: LocalServer) -> AsyncIterator[ProctorClient]:
    async with ProctorClient.from_settings(ProctorSettings()) as api:
        yield api


async def caught_up(server: LocalServer, timeout_s: float = 60) -> None:
    """Wait until the recorder has stored everything in the event stream so far."""
    assert server.bus is not None
    last = (await server.bus.stats()).last_sequence
    await server.recorders[0].wait_recorded(last, timeout_s)


async def delete_namespace(url: str, naming: Naming) -> None:
    """Delete every stream and bucket (``KV_...``) of ``naming`` on the shared server."""
    upper = naming.namespace.upper().replace("-", "_")
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.removeprefix("KV_").startswith(f"{upper}_"):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()
