"""Replicas and a short ``ack_wait``: a living replica keeps what it holds (through a slow
checkpoint, through a slow action) from going to another, and an event that does go to
another before its state was saved fires once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from proctor.automations import Automation, CallWebhook, RunDeployment
from proctor.automations.engine import ACTION_EXECUTED, TRIGGERED
from proctor.events.bus import EventBus
from proctor.events.bus.consumer import (
    ConsumerOptions,
    ConsumerState,
    Delivery,
    DurableConsumer,
)
from proctor.events.bus.holding import Holding
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers import on_event
from tests.automations.conftest import Harness
from tests.automations.fakes import GatedState

ONE_SECOND = ConsumerOptions(ack_wait=timedelta(seconds=1), max_deliver=20, start="new")
SHORT: dict[str, Any] = {"events": ONE_SECOND, "firings": ONE_SECOND}
TICKS = 8
"""Keep-alive signals to wait for: with one held delivery, two ``ack_wait``s."""


# -- Holding, on its own -------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingConsumer(DurableConsumer):
    """Records the ``in_progress`` signals; nothing else is used by ``Holding``."""

    signalled: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("test", (), ConsumerOptions(ack_wait=timedelta(seconds=4)))

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        self.signalled.append([d.sequence for d in deliveries])

    async def _fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        raise NotImplementedError

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        raise NotImplementedError

    async def nak(self, deliveries: Sequence[Delivery], *, delay: timedelta | None = None) -> None:
        raise NotImplementedError

    async def state(self) -> ConsumerState:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def delete(self) -> None:
        raise NotImplementedError


def delivery(sequence: int) -> Delivery:
    return Delivery(sequence, "x", b"", attempt=1, max_deliver=20, handle=None)


async def test_holding_signals_each_delivery_held_half_a_tick_once_per_tick() -> None:
    consumer, clock = RecordingConsumer(), Clock()
    signals: list[int] = []
    held = Holding(consumer, on_refresh=signals.append, clock=clock)
    assert held.interval_s == 1.0  # a quarter of the 4 s ack_wait
    first, second, third = delivery(1), delivery(2), delivery(3)
    held.hold([first, second])
    clock.now = 0.7
    held.hold([third])
    clock.now = 1.0
    await held.refresh()  # the third is 0.3 s old: its ack_wait has 3.7 s left
    clock.now = 2.0
    held.release([second])  # acknowledged
    await held.refresh()
    clock.now = 2.4
    await held.refresh()  # nothing due: signalled 0.4 s ago
    assert consumer.signalled == [[1, 2], [1, 3]]
    assert signals == [2, 2]
    assert first in held
    assert second not in held
    assert len(held) == 2


async def test_holding_sends_nothing_for_what_it_no_longer_holds() -> None:
    consumer, clock = RecordingConsumer(), Clock()
    held = Holding(consumer, clock=clock)
    batch = [delivery(n) for n in range(1, 501)]
    held.hold(batch)
    held.release(batch)
    clock.now = 10.0
    await held.refresh()
    assert consumer.signalled == []
    assert len(held) == 0


# -- replicas on a real nats-server --------------------------------------------------------


@pytest.fixture
async def gates(js_harness: Harness) -> AsyncIterator[Callable[[], GatedState]]:
    """Gates for the test to open; all opened at the end in any case, so engines can stop."""
    made: list[GatedState] = []

    def new() -> GatedState:
        made.append(GatedState())
        return made[-1]

    yield new
    for gated in made:
        gated.gate.set()


def push_rule(harness: Harness) -> None:
    harness.runs.add_deployment("ops", "handle")
    harness.automations.put(
        Automation(
            name="on push",
            trigger=on_event("github.push"),
            actions=[RunDeployment(deployment="ops/handle")],
        )
    )


async def test_a_slow_checkpoint_keeps_its_events_from_the_other_replica(
    js_harness: Harness, gates: Callable[[], GatedState]
) -> None:
    harness = js_harness
    push_rule(harness)
    gated = gates()
    first = await harness.engine(state_through=gated.over, checkpoint_events=1, **SHORT)
    receipt = await harness.bus.publish(Event.build("github.push", {ID_LABEL: "repo.1"}))
    await gated.writing.wait()  # evaluated, fired; its checkpoint waits for the store
    await harness.report(TRIGGERED)
    await harness.report(ACTION_EXECUTED)
    second = await harness.engine(**SHORT)

    await first.wait_kept_alive(first.stats.kept_alive + TICKS, timeout_s=30)
    assert second.stats.evaluated == 0  # never delivered to the other replica
    assert first.stats.evaluated == 1  # nor again to this one
    gated.gate.set()
    await first.wait_evaluated(receipt.sequence)
    await harness.no_report(TRIGGERED)
    assert len(harness.runs.requests) == 1


@pytest.mark.parametrize("saves_first", ["stalled replica", "other replica"])
async def test_an_event_delivered_again_before_its_state_was_saved_fires_once(
    js_harness: Harness,
    gates: Callable[[], GatedState],
    monkeypatch: pytest.MonkeyPatch,
    saves_first: str,
) -> None:
    """The first replica evaluated the event and fired, then stalled (its keep-alive never
    reached the server) while saving: the event went to the second replica, which made the
    same firing (stored once). Whichever saves second loses the compare-and-set, re-reads the
    state and does not count the event again."""
    harness = js_harness
    push_rule(harness)
    first_state, second_state = gates(), gates()
    stalled(harness.bus, monkeypatch)
    first = await harness.engine(state_through=first_state.over, checkpoint_events=1, **SHORT)
    monkeypatch.undo()
    await harness.bus.publish(Event.build("github.push", {ID_LABEL: "repo.1"}))
    await first_state.writing.wait()
    await harness.report(TRIGGERED)
    await harness.report(ACTION_EXECUTED)
    second = await harness.engine(state_through=second_state.over, checkpoint_events=1, **SHORT)
    await second_state.writing.wait()  # the event came again after ack_wait, and fired again

    order = [(first, first_state), (second, second_state)]
    if saves_first == "other replica":
        order.reverse()
    for engine, state in order:
        state.gate.set()
        await engine.checkpoint()  # after the one that waited for the store
    (winner, _), (loser, _) = order
    assert winner.stats.conflicts == 0
    assert loser.stats.conflicts == 1
    assert first.stats.evaluated == second.stats.evaluated == 1
    await harness.no_report(TRIGGERED)
    await harness.no_report(ACTION_EXECUTED)
    assert len(harness.runs.requests) == 1


async def test_an_action_slower_than_ack_wait_runs_once(
    js_harness: Harness, gates: Callable[[], GatedState]
) -> None:
    harness = js_harness
    harness.webhooks.gate = gate = gates().gate
    harness.automations.put(
        Automation(
            name="notify",
            trigger=on_event("github.push"),
            actions=[CallWebhook(url="https://hooks.example.com/x", body={"id": "{{ event.id }}"})],
        )
    )
    first = await harness.engine(**SHORT)
    await harness.bus.publish(Event.build("github.push", {ID_LABEL: "repo.1"}))
    await harness.webhooks.arrivals.get()  # the action started; it waits for the gate
    second = await harness.engine(**SHORT)

    await first.wait_kept_alive(first.stats.kept_alive + TICKS, timeout_s=30)
    assert harness.webhooks.arrivals.empty()  # the firing did not go to the second replica
    gate.set()
    await harness.report(ACTION_EXECUTED)
    await harness.no_report(ACTION_EXECUTED)
    assert len(harness.webhooks.sent) == 1
    assert second.stats.actions_executed == 0


def stalled(bus: EventBus, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durable consumers opened on ``bus`` until ``monkeypatch.undo()`` never signal
    progress: the server sees their replica as gone."""
    opened = bus.durable_consumer

    async def durable_consumer(
        purpose: str, *filters: str, options: ConsumerOptions | None = None
    ) -> DurableConsumer:
        consumer = await opened(purpose, *filters, options=options)

        async def no_progress(deliveries: Sequence[Delivery]) -> None:
            return None

        consumer.in_progress = no_progress  # type: ignore[method-assign]
        return consumer

    monkeypatch.setattr(bus, "durable_consumer", durable_consumer)
