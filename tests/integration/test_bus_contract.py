"""One contract, two buses: every test here runs on the in-memory bus and on real JetStream."""

from __future__ import annotations

import pytest

from proctor.core.errors import EventTooLargeError
from proctor.events.bus import EventBus
from proctor.events.model import Event, WireEvent

RESOURCE = {"proctor.resource.id": "test.resource"}


def make(name: str, **payload: object) -> Event:
    return Event.build(name, RESOURCE, payload=payload)


async def test_publish_returns_a_receipt_once_stored(bus: EventBus) -> None:
    event = make("shop.order.created", total=3)
    receipt = await bus.publish(event)
    assert receipt.event_id == event.id
    assert not receipt.duplicate
    assert (await bus.stats()).messages == 1


async def test_resending_an_event_stores_it_once(bus: EventBus) -> None:
    event = make("shop.order.created")
    first = await bus.publish(event)
    again = await bus.publish(event)
    assert again.duplicate
    assert again.sequence == first.sequence
    assert (await bus.stats()).messages == 1


async def test_publish_many_keeps_order_and_dedups(bus: EventBus) -> None:
    events = [make("shop.order.created", n=i) for i in range(50)]
    receipts = await bus.publish_many(events)
    assert [r.event_id for r in receipts] == [e.id for e in events]
    assert [r.sequence for r in receipts] == sorted(r.sequence for r in receipts)
    again = await bus.publish_many(events[:10])
    assert all(r.duplicate for r in again)
    assert (await bus.stats()).messages == 50


async def test_serialised_events_are_stored_as_the_events_they_encode(bus: EventBus) -> None:
    events = [make("shop.order.created", n=i) for i in range(3)]
    async with await bus.subscribe("shop.>") as feed:
        receipts = await bus.publish_many([events[0], WireEvent.of(events[1]), events[2]])
        received = [await feed.next(5) for _ in range(3)]
    assert [r.event_id for r in receipts] == [e.id for e in events]
    assert received == events
    assert (await bus.publish_many([WireEvent.of(events[1])]))[0].duplicate


async def test_subscription_gets_only_matching_names(bus: EventBus) -> None:
    async with await bus.subscribe("shop.order.*", "billing.>") as feed:
        await bus.publish_many(
            [
                make("shop.order.created", n=1),
                make("shop.customer.created"),
                make("shop.order.created.extra"),
                make("billing.invoice.paid", n=2),
                make("shop.order.cancelled", n=3),
            ]
        )
        received = [(await feed.next(5)).payload["n"] for _ in range(3)]
    assert sorted(received) == [1, 2, 3]


async def test_partial_token_filters_are_finished_client_side(bus: EventBus) -> None:
    async with await bus.subscribe("proctor.flow-run.Fail*") as feed:
        await bus.publish(make("proctor.flow-run.Completed"))
        await bus.publish(make("proctor.flow-run.Failed", ok=True))
        event = await feed.next(5)
    assert event.event == "proctor.flow-run.Failed"


async def test_subscription_from_the_start_replays_stored_events(bus: EventBus) -> None:
    stored = [make("a.b", n=i) for i in range(5)]
    await bus.publish_many(stored)
    async with await bus.subscribe("a.b", start="all") as feed:
        replayed = [await feed.next(5) for _ in range(5)]
    assert replayed == stored


async def test_new_subscription_skips_what_was_stored_before(bus: EventBus) -> None:
    await bus.publish(make("a.b", n=0))
    async with await bus.subscribe("a.b") as feed:
        await bus.publish(make("a.b", n=1))
        assert (await feed.next(5)).payload["n"] == 1


async def test_oversized_event_is_refused_and_nothing_is_stored(bus: EventBus) -> None:
    labels = {f"label.{i}": "v" * 2000 for i in range(60)}
    related = [
        {"proctor.resource.id": f"r{i}", "proctor.resource.role": "x", **labels} for i in range(5)
    ]
    big = Event.build("a.b", RESOURCE, related=related)
    with pytest.raises(EventTooLargeError):
        await bus.publish(big)
    with pytest.raises(EventTooLargeError):
        await bus.publish_many([make("a.b"), big])
    assert (await bus.stats()).messages == 0
