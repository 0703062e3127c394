"""The ``ReplayGuard`` contract, in memory and on a real NATS KV bucket; what only the
durable one promises (shared by replicas, one winner of a race, reads the claims an earlier
version wrote, fails fast without NATS)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus.jetstream import connect_nats
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.webhooks import Claim, InMemoryReplayGuard, ReplayGuard, replay_key
from proctor.runtime.webhooks.kv_create import KeyCreator
from proctor.runtime.webhooks.replay_kv import JetStreamReplayGuard

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=3)


@pytest.fixture(params=["memory", "jetstream"])
async def guard(request: pytest.FixtureRequest, naming: Naming) -> AsyncIterator[ReplayGuard]:
    if request.param == "memory":
        yield InMemoryReplayGuard()
        return
    nats_server: EmbeddedNats = request.getfixturevalue("nats_server")
    nc = await connect_nats(nats_server.url)
    yield await JetStreamReplayGuard.open(nc, nc.jetstream(), naming)
    await nc.jetstream().delete_key_value(naming.webhook_deliveries_bucket)
    await nc.close()


async def test_a_delivery_is_a_replay_only_once_answered(guard: ReplayGuard) -> None:
    key = replay_key("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert await guard.claim(key, now=NOW, window=WINDOW) is Claim.NEW
    # not answered yet (publish failed, the server died, or still in flight): a retry passes
    later = NOW + timedelta(hours=1)
    assert await guard.claim(key, now=later, window=WINDOW) is Claim.UNANSWERED
    assert await guard.claim(key, now=later, window=WINDOW) is Claim.UNANSWERED
    await guard.answered(key, expires=NOW + WINDOW)
    assert await guard.claim(key, now=later, window=WINDOW) is Claim.ANSWERED
    assert await guard.claim(replay_key("github", "another"), now=NOW, window=WINDOW) is Claim.NEW


async def test_a_claim_ends_with_its_window(guard: ReplayGuard) -> None:
    key = replay_key("slack", "v0=abc")
    ten = timedelta(minutes=10)
    assert await guard.claim(key, now=NOW, window=ten) is Claim.NEW
    await guard.answered(key, expires=NOW + ten)
    assert await guard.claim(key, now=NOW + timedelta(minutes=9), window=WINDOW) is Claim.ANSWERED
    assert await guard.claim(key, now=NOW + ten, window=WINDOW) is Claim.NEW
    assert await guard.claim(key, now=NOW + timedelta(days=1), window=WINDOW) is Claim.UNANSWERED


@pytest.mark.nats
async def test_replicas_racing_for_one_delivery_have_one_winner(
    nats_server: EmbeddedNats, naming: Naming
) -> None:
    clients = [await connect_nats(nats_server.url) for _ in range(8)]
    try:
        guards = [await JetStreamReplayGuard.open(nc, nc.jetstream(), naming) for nc in clients]
        key = replay_key("github", "raced")
        won = await asyncio.gather(*(g.claim(key, now=NOW, window=WINDOW) for g in guards))
        assert Counter(won) == {Claim.NEW: 1, Claim.UNANSWERED: 7}
        # an expired claim taken over by racing replicas: one winner too
        later = NOW + WINDOW
        won = await asyncio.gather(*(g.claim(key, now=later, window=WINDOW) for g in guards))
        assert Counter(won) == {Claim.NEW: 1, Claim.UNANSWERED: 7}
    finally:
        await clients[0].jetstream().delete_key_value(naming.webhook_deliveries_bucket)
        for nc in clients:
            await nc.close()


@pytest.mark.nats
async def test_without_nats_a_claim_fails_at_once(
    nats_server: EmbeddedNats, naming: Naming
) -> None:
    nc = await connect_nats(nats_server.url)
    guard = await JetStreamReplayGuard.open(nc, nc.jetstream(), naming)
    await nc.jetstream().delete_key_value(naming.webhook_deliveries_bucket)
    await nc.close()
    with pytest.raises(BrokerUnavailableError, match="not connected"):
        await guard.claim(replay_key("github", "x"), now=NOW, window=WINDOW)


@pytest.mark.nats
async def test_a_claim_written_before_claims_had_states_is_answered(
    nats_server: EmbeddedNats, naming: Naming
) -> None:
    nc = await connect_nats(nats_server.url)
    try:
        guard = await JetStreamReplayGuard.open(nc, nc.jetstream(), naming)
        kv = await nc.jetstream().key_value(naming.webhook_deliveries_bucket)
        key = replay_key("github", "old")
        await kv.put(key, str(int((NOW + WINDOW).timestamp() * 1000)).encode())  # expiry only
        assert await guard.claim(key, now=NOW, window=WINDOW) is Claim.ANSWERED
    finally:
        await nc.jetstream().delete_key_value(naming.webhook_deliveries_bucket)
        await nc.close()


@pytest.mark.nats
async def test_a_deleted_claim_is_claimed_again(nats_server: EmbeddedNats, naming: Naming) -> None:
    nc = await connect_nats(nats_server.url)
    try:
        guard = await JetStreamReplayGuard.open(nc, nc.jetstream(), naming)
        kv = await nc.jetstream().key_value(naming.webhook_deliveries_bucket)
        key = replay_key("github", "deleted")
        assert await guard.claim(key, now=NOW, window=WINDOW) is Claim.NEW
        await kv.delete(key)  # as the guard's release did before claims had states
        assert await guard.claim(key, now=NOW, window=WINDOW) is Claim.NEW
        assert await guard.claim(key, now=NOW, window=WINDOW) is Claim.UNANSWERED
    finally:
        await nc.jetstream().delete_key_value(naming.webhook_deliveries_bucket)
        await nc.close()


@pytest.mark.nats
async def test_a_claim_nobody_answers_times_out_and_is_forgotten(
    nats_server: EmbeddedNats,
) -> None:
    nc = await connect_nats(nats_server.url)
    try:
        creator = KeyCreator(nc, "silent")
        await nc.subscribe("$KV.silent.>")  # a responder that never answers
        with pytest.raises(TimeoutError):
            await creator.create("k", b"v", timeout_s=0.05)
        assert not creator._waiting
    finally:
        await nc.close()
