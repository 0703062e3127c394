"""``WebhookRegistry.lookup`` on a real SQLite store: cached per slug, and the requests that
miss a slug together share one read (no stampede on the store when the cache entry ends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from proctor.core.errors import StoreUnavailableError
from proctor.runtime.store import Store
from proctor.runtime.webhooks import WebhookCreate, WebhookPreset
from proctor.runtime.webhooks.registry import WebhookRegistry

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


@pytest.fixture
def reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The slugs the store is asked for, in order."""
    asked: list[str] = []
    find = store.webhooks.find

    async def counted(**where: Any) -> Any:
        asked.append(where["slug"])
        return await find(**where)

    monkeypatch.setattr(store.webhooks, "find", counted)
    return asked


async def test_requests_missing_a_slug_together_share_one_read(
    store: Store, reads: list[str]
) -> None:
    clock = Clock()
    registry = WebhookRegistry(store, cache_ttl_s=2.0, monotonic=clock)
    await registry.create(WebhookCreate(slug="gh", preset=WebhookPreset.GITHUB, secret="s"))

    found = await asyncio.gather(*(registry.lookup("gh", now=NOW) for _ in range(16)))
    assert [webhook.slug for webhook in found if webhook] == ["gh"] * 16
    assert reads == ["gh"]

    await registry.lookup("gh", now=NOW)  # cached
    clock.now = 2.0  # the entry ended: one read again
    await asyncio.gather(*(registry.lookup("gh", now=NOW) for _ in range(16)))
    assert reads == ["gh", "gh"]
    assert await asyncio.gather(*(registry.lookup("nope", now=NOW) for _ in range(4))) == [None] * 4
    assert reads == ["gh", "gh", "nope"]


async def test_a_change_made_while_a_slug_is_read_is_seen_by_the_next_lookup(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = WebhookRegistry(store)
    await registry.create(WebhookCreate(slug="gh", preset=WebhookPreset.GITHUB, secret="s"))
    find = store.webhooks.find
    started, proceed = asyncio.Event(), asyncio.Event()

    async def held_once(**where: Any) -> Any:
        row = await find(**where)
        if not started.is_set():  # the lookup's read: it read the row, and waits
            started.set()
            await proceed.wait()
        return row

    monkeypatch.setattr(store.webhooks, "find", held_once)
    reading = asyncio.ensure_future(registry.lookup("gh", now=NOW))
    await asyncio.wait_for(started.wait(), 10)
    assert await registry.delete("gh")  # meanwhile
    proceed.set()
    assert await reading is not None  # read before the delete
    assert await registry.lookup("gh", now=NOW) is None  # not cached from the stale read


async def test_a_store_outage_reaches_every_waiting_request(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = WebhookRegistry(store)

    async def down(**where: Any) -> Any:
        raise StoreUnavailableError("the database is unreachable")

    monkeypatch.setattr(store.webhooks, "find", down)
    outcomes = await asyncio.gather(
        *(registry.lookup("gh", now=NOW) for _ in range(3)), return_exceptions=True
    )
    assert [type(outcome) for outcome in outcomes] == [StoreUnavailableError] * 3
    monkeypatch.undo()
    assert await registry.lookup("gh", now=NOW) is None  # not cached: read again
