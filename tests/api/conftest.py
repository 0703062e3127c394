"""API fixtures: an app over an in-memory bus, a SQLite store and a token store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import pytest

from proctor.core.settings import ProctorSettings
from proctor.events.bus import InMemoryEventBus
from proctor.events.naming import Naming
from proctor.runtime.api.app import ApiServices, create_app
from proctor.runtime.api.auth import Scope, TokenRecord, new_token
from proctor.runtime.store import Store


class MemoryTokens:
    """The token store contract in memory: hashes only."""

    def __init__(self) -> None:
        self.records: dict[str, TokenRecord] = {}

    def create(self, name: str, scope: Scope) -> str:
        token, digest = new_token()
        self.records[digest] = TokenRecord(name, scope, digest, datetime.now(UTC))
        return token

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        return self.records.get(token_hash)


@pytest.fixture
def tokens() -> MemoryTokens:
    return MemoryTokens()


@pytest.fixture
def memory_bus(naming: Naming) -> InMemoryEventBus:
    return InMemoryEventBus(naming)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as opened:
        yield opened


def services(
    bus: InMemoryEventBus, store: Store, tokens: MemoryTokens, auth: Literal["none", "token"]
) -> ApiServices:
    settings = ProctorSettings(api_auth=auth)
    return ApiServices(settings=settings, bus=bus, store=store, tokens=tokens)


@pytest.fixture
async def client(
    memory_bus: InMemoryEventBus, store: Store, tokens: MemoryTokens
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services(memory_bus, store, tokens, "none"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as http:
        yield http


@pytest.fixture
async def secured(
    memory_bus: InMemoryEventBus, store: Store, tokens: MemoryTokens
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services(memory_bus, store, tokens, "token"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as http:
        yield http
