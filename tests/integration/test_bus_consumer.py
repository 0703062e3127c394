"""Durable consumers, one contract on both buses (in memory and real JetStream)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from proctor.core.errors import ConfigurationError
from proctor.events.bus import EventBus
from proctor.events.bus.consumer import ConsumerOptions
from proctor.events.model import Event

RESOURCE = {"proctor.resource.id": "test.resource"}
QUICK = ConsumerOptions(ack_wait=timedelta(milliseconds=400), max_deliver=3)


def make(name: str, **payload: object) -> Event:
    return Event.build(name, RESOURCE, payload=payload)


async def publish(bus: EventBus, count: int, name: str = "shop.order.created") -> list[int]:
    receipts = await bus.publish_many([make(name, n=i) for i in range(count)])
    return [r.sequence for r in receipts]


async def test_delivers_stored_events_in_order_with_their_sequences(bus: EventBus) -> None:
    sequences = await publish(bus, 5)
    consumer = await bus.durable_consumer("recorder")
    deliveries = await consumer.fetch(10, timeout_s=5)
    assert [d.sequence for d in deliveries] == sequences
    assert [d.decode().payload["n"] for d in deliveries] == [0, 1, 2, 3, 4]
    assert all(d.attempt == 1 and d.event_name == "shop.order.created" for d in deliveries)
    await consumer.close()


async def test_fetch_returns_at_most_the_batch_size(bus: EventBus) -> None:
    await publish(bus, 10)
    consumer = await bus.durable_consumer("recorder")
    first = await consumer.fetch(4, timeout_s=5)
    second = await consumer.fetch(100, timeout_s=5)
    assert len(first) == 4
    assert len(first) + len(second) == 10
    await consumer.close()


async def test_empty_fetch_returns_nothing_when_the_timeout_passes(bus: EventBus) -> None:
    consumer = await bus.durable_consumer("recorder")
    assert await consumer.fetch(10, timeout_s=0.2) == []
    await consumer.close()


async def test_fetch_returns_as_soon_as_an_event_is_published(bus: EventBus) -> None:
    consumer = await bus.durable_consumer("recorder")
    assert await consumer.fetch(10, timeout_s=0.1) == []
    [sequence] = await publish(bus, 1)
    deliveries = await consumer.fetch(500, timeout_s=10)
    assert [d.sequence for d in deliveries] == [sequence]
    await consumer.close()


async def test_acknowledged_events_are_not_delivered_again_after_a_restart(bus: EventBus) -> None:
    await publish(bus, 5)
    consumer = await bus.durable_consumer("recorder", options=QUICK)
    await consumer.ack(await consumer.fetch(10, timeout_s=5))
    await consumer.close()
    later = await publish(bus, 2)
    reopened = await bus.durable_consumer("recorder", options=QUICK)
    deliveries = await reopened.fetch(10, timeout_s=5)
    assert [d.sequence for d in deliveries] == later
    await reopened.close()


async def test_unacked_events_are_delivered_again_after_a_crash(bus: EventBus) -> None:
    sequences = await publish(bus, 3)
    crashed = await bus.durable_consumer("recorder", options=QUICK)
    assert len(await crashed.fetch(10, timeout_s=5)) == 3
    await crashed.close()  # no ack: the process "died" mid-batch
    restarted = await bus.durable_consumer("recorder", options=QUICK)
    again = await restarted.fetch(10, timeout_s=10)
    assert [d.sequence for d in again] == sequences
    assert all(d.attempt == 2 for d in again)
    await restarted.ack(again)
    assert await restarted.fetch(10, timeout_s=0.8) == []  # 2x ack_wait
    await restarted.close()


async def test_after_max_deliver_attempts_a_message_is_not_delivered_again(bus: EventBus) -> None:
    options = ConsumerOptions(ack_wait=timedelta(milliseconds=300), max_deliver=2)
    [sequence] = await publish(bus, 1)
    consumer = await bus.durable_consumer("recorder", options=options)
    first = await consumer.fetch(10, timeout_s=5)
    assert [(d.sequence, d.attempt, d.is_last_attempt) for d in first] == [(sequence, 1, False)]
    last = await consumer.fetch(10, timeout_s=10)
    assert [(d.sequence, d.attempt, d.is_last_attempt) for d in last] == [(sequence, 2, True)]
    assert await consumer.fetch(10, timeout_s=0.9) == []  # 3x ack_wait: it would have come
    await consumer.close()


async def test_nak_delivers_again_and_nak_with_delay_later(bus: EventBus) -> None:
    [sequence] = await publish(bus, 1)
    consumer = await bus.durable_consumer("recorder", options=ConsumerOptions(max_deliver=5))
    first = await consumer.fetch(10, timeout_s=5)
    await consumer.nak(first)
    second = await consumer.fetch(10, timeout_s=5)
    assert [(d.sequence, d.attempt) for d in second] == [(sequence, 2)]
    await consumer.nak(second, delay=timedelta(milliseconds=500))
    assert await consumer.fetch(10, timeout_s=0.2) == []
    third = await consumer.fetch(10, timeout_s=5)
    assert [(d.sequence, d.attempt) for d in third] == [(sequence, 3)]
    await consumer.close()


async def test_in_progress_holds_off_redelivery(bus: EventBus) -> None:
    options = ConsumerOptions(ack_wait=timedelta(seconds=1), max_deliver=5)
    await publish(bus, 1)
    consumer = await bus.durable_consumer("recorder", options=options)
    delivered = await consumer.fetch(10, timeout_s=5)
    assert await consumer.fetch(10, timeout_s=0.6) == []
    await consumer.in_progress(delivered)
    assert await consumer.fetch(10, timeout_s=0.6) == []  # past the first ack_wait
    assert [d.attempt for d in await consumer.fetch(10, timeout_s=5)] == [2]
    await consumer.close()


async def test_filters_select_event_names_including_partial_tokens(bus: EventBus) -> None:
    consumer = await bus.durable_consumer("engine", "shop.order.*", "proctor.flow-run.Fail*")
    await bus.publish_many(
        [
            make("shop.order.created", n=1),
            make("shop.customer.created"),
            make("proctor.flow-run.Completed"),
            make("proctor.flow-run.Failed", n=2),
        ]
    )
    received: list[int] = []
    while len(received) < 2:
        deliveries = await consumer.fetch(10, timeout_s=5)
        assert deliveries, "timed out waiting for the matching events"
        received.extend(d.decode().payload["n"] for d in deliveries)
        await consumer.ack(deliveries)
    assert received == [1, 2]
    assert await consumer.fetch(10, timeout_s=0.3) == []
    await consumer.close()


async def test_start_new_skips_events_stored_before_creation(bus: EventBus) -> None:
    await publish(bus, 3)
    consumer = await bus.durable_consumer("live", options=ConsumerOptions(start="new"))
    [sequence] = await publish(bus, 1)
    assert [d.sequence for d in await consumer.fetch(10, timeout_s=5)] == [sequence]
    await consumer.close()


async def test_consumers_of_different_purposes_are_independent(bus: EventBus) -> None:
    sequences = await publish(bus, 3)
    recorder = await bus.durable_consumer("recorder")
    engine = await bus.durable_consumer("engine")
    await recorder.ack(await recorder.fetch(10, timeout_s=5))
    assert [d.sequence for d in await engine.fetch(10, timeout_s=5)] == sequences
    await recorder.close()
    await engine.close()


async def test_state_reports_the_ack_floor_and_what_is_pending(bus: EventBus) -> None:
    sequences = await publish(bus, 4)
    consumer = await bus.durable_consumer("recorder")
    deliveries = await consumer.fetch(2, timeout_s=5)
    await consumer.ack(deliveries)
    state = await consumer.state()
    assert state.name == bus.naming.consumer("recorder")
    assert state.ack_floor == sequences[1]
    assert state.pending == 2
    assert state.ack_pending == 0
    await consumer.close()


async def test_delete_forgets_the_position_so_a_replay_starts_over(bus: EventBus) -> None:
    sequences = await publish(bus, 3)
    consumer = await bus.durable_consumer("recorder")
    await consumer.ack(await consumer.fetch(10, timeout_s=5))
    await consumer.delete()
    replay = await bus.durable_consumer("recorder")
    assert [d.sequence for d in await replay.fetch(10, timeout_s=5)] == sequences
    await replay.close()


async def test_reopening_with_other_limits_keeps_the_position(bus: EventBus) -> None:
    await publish(bus, 2)
    consumer = await bus.durable_consumer("recorder")
    await consumer.ack(await consumer.fetch(10, timeout_s=5))
    await consumer.close()
    options = ConsumerOptions(ack_wait=timedelta(seconds=5), max_deliver=4, start="new")
    reopened = await bus.durable_consumer("recorder", options=options)
    assert await reopened.fetch(10, timeout_s=0.3) == []
    [sequence] = await publish(bus, 1)
    assert [d.sequence for d in await reopened.fetch(10, timeout_s=5)] == [sequence]
    await reopened.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [("ack_wait", timedelta(0)), ("max_deliver", 0), ("max_ack_pending", 0)],
)
def test_options_are_checked(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ConsumerOptions(**{field: value})  # type: ignore[arg-type]
    assert raised.value.setting == field
