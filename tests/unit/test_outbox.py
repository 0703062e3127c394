"""The flow engine's outbox: order, once-only, pipelined batches, resends and hand-offs.

A real bus loop (``LoopThread``) and a fake ``publish`` that records what it was given; the
JetStream side of publishing is covered by tests/integration/test_publish_pipeline_jetstream.py
and the flow tests that read their events back from a real nats-server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterator

import pytest

from proctor.core.errors import BrokerUnavailableError, BusError
from proctor.core.loop_thread import LoopThread
from proctor.runtime.engine import publishing
from proctor.runtime.engine.publishing import Outbox

WAIT_S = 10.0  # backstop for every wait on a signal


class FakeBroker:
    """Records each batch it is given; holds batches unacknowledged, or refuses them, as
    told per call (``plan``) or for all (``holding``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.batches: list[list[int]] = []
        self.stored: list[int] = []
        self.holding = False
        self.plan: dict[int, tuple[bool, BaseException | None]] = {}  # call: (held, refusal)
        self._gates: dict[int, asyncio.Event] = {}
        self._calls = threading.Condition()

    async def publish(self, batch: list[int]) -> None:
        with self._calls:
            call = len(self.batches)
            self.batches.append(list(batch))
            self._calls.notify_all()
        held, refusal = self.plan.get(call, (self.holding, None))
        if held:
            await self._gates.setdefault(call, asyncio.Event()).wait()
        if refusal is not None:
            raise refusal
        self.stored += batch

    def wait_for_batches(self, count: int) -> None:
        with self._calls:
            assert self._calls.wait_for(lambda: len(self.batches) >= count, WAIT_S), (
                f"{len(self.batches)} batches published, expected {count}"
            )

    def release(self, call: int | None = None) -> None:
        """Let call ``call`` answer; with none, every call held so far, and hold no more."""

        def open_gates() -> None:
            if call is None:
                self.holding = False
            for number in range(len(self.batches)) if call is None else [call]:
                self._gates.setdefault(number, asyncio.Event()).set()

        self.loop.call_soon_threadsafe(open_gates)


@pytest.fixture
def bus_loop() -> Iterator[LoopThread]:
    thread = LoopThread("test-outbox")
    yield thread
    thread.stop()


@pytest.fixture
def broker(bus_loop: LoopThread) -> FakeBroker:
    return FakeBroker(bus_loop.loop)


def _outbox(bus_loop: LoopThread, broker: FakeBroker, **options: float) -> Outbox[int]:
    return Outbox(broker.publish, bus_loop.spawn, what="test items", **options)  # type: ignore[arg-type]


def _settle(outbox: Outbox[int]) -> None:
    outbox.settled(outbox.ticket()).result(WAIT_S)


def test_items_are_published_once_in_order_across_batches(
    bus_loop: LoopThread, broker: FakeBroker
) -> None:
    outbox = _outbox(bus_loop, broker, handoff_at=100)
    for item in range(10_000):
        outbox.add(item)
    _settle(outbox)
    assert broker.stored == list(range(10_000))
    assert len(broker.batches) > 1
    assert outbox.backlog == 0


def test_a_later_batch_goes_out_before_an_earlier_one_is_acknowledged_and_settles_after_it(
    bus_loop: LoopThread, broker: FakeBroker
) -> None:
    outbox = _outbox(bus_loop, broker)
    broker.holding = True
    outbox.add(1)
    broker.wait_for_batches(1)
    first = outbox.settled(outbox.ticket())
    outbox.add(2)
    second = outbox.settled(outbox.ticket())  # asks the drain for what is pending now
    broker.wait_for_batches(2)  # sent while the first is still unacknowledged
    assert broker.batches == [[1], [2]]
    assert not first.done()
    assert not second.done()
    broker.release()
    second.result(WAIT_S)
    assert first.done()
    assert broker.stored == [1, 2]


def test_a_batch_the_broker_did_not_acknowledge_is_sent_again_before_later_items(
    bus_loop: LoopThread,
    broker: FakeBroker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(publishing, "_RETRY_PAUSE_S", 0.0)
    broker.plan[0] = (False, BrokerUnavailableError("no acknowledgement within 30 s"))
    outbox = _outbox(bus_loop, broker)
    for item in range(10):
        outbox.add(item)
    broker.wait_for_batches(1)
    for item in range(10, 20):
        outbox.add(item)
    with caplog.at_level(logging.WARNING, logger=publishing.__name__):
        _settle(outbox)
    assert broker.stored == list(range(20))
    assert broker.batches[0] == list(range(10))
    assert "10 test items not acknowledged yet, sending again" in caplog.text


def test_a_batch_acknowledged_after_one_that_was_not_is_not_settled_before_it(
    bus_loop: LoopThread, broker: FakeBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "_RETRY_PAUSE_S", 0.0)
    broker.plan[0] = (True, BrokerUnavailableError("no acknowledgement within 30 s"))
    broker.plan[2] = (True, None)  # the resend
    outbox = _outbox(bus_loop, broker)
    outbox.add(1)
    broker.wait_for_batches(1)
    first = outbox.settled(outbox.ticket())
    outbox.add(2)
    second = outbox.settled(outbox.ticket())
    broker.wait_for_batches(2)  # [2] acknowledged while [1] is not
    broker.release(0)  # [1] is refused: sent again, with [2] behind it
    broker.wait_for_batches(3)
    assert broker.batches[2] == [1, 2]
    assert not first.done()  # settled by count: [2]'s ack must not stand for [1]
    broker.release(2)
    second.result(WAIT_S)
    assert first.done()


def test_a_batch_refused_for_good_is_logged_and_the_rest_still_published(
    bus_loop: LoopThread, broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.plan[0] = (False, BusError("the event bus connection is closed"))
    outbox = _outbox(bus_loop, broker)
    outbox.add(1)
    broker.wait_for_batches(1)
    outbox.add(2)
    with caplog.at_level(logging.ERROR, logger=publishing.__name__):
        _settle(outbox)
    assert broker.stored == [2]
    assert "1 test items were not published: the event bus connection is closed" in caplog.text


class CountedHandOffs(Outbox[int]):
    hand_offs = 0

    def _hand_off(self, takes: int) -> None:
        self.hand_offs += 1
        super()._hand_off(takes)


def test_a_stalled_broker_costs_the_adder_one_wait_not_one_per_item(
    bus_loop: LoopThread, broker: FakeBroker
) -> None:
    broker.holding = True
    outbox = CountedHandOffs(
        broker.publish,
        bus_loop.spawn,
        what="test items",
        handoff_at=10,
        handoff_wait_s=0.05,
    )
    for item in range(2_000):
        outbox.add(item)
    # Each hand-off but the last had a batch taken; then every batch the drain may have in
    # flight is unacknowledged, and the one hand-off that found it full waited in vain.
    assert outbox.hand_offs <= publishing._MAX_IN_FLIGHT + 1
    assert len(broker.batches) == publishing._MAX_IN_FLIGHT
    broker.release()
    _settle(outbox)
    assert broker.stored == list(range(2_000))


def test_a_hand_off_lets_the_drain_take_the_backlog_while_the_adder_runs(
    bus_loop: LoopThread, broker: FakeBroker
) -> None:
    broker.holding = True
    outbox = _outbox(bus_loop, broker, handoff_at=50, handoff_wait_s=WAIT_S)
    for item in range(50):
        outbox.add(item)
    # The 50th item waited for the drain to take what was pending: no ack, no settle asked.
    assert sum(map(len, broker.batches)) == 50
    broker.release()
    _settle(outbox)
    assert broker.stored == list(range(50))


def test_a_closed_bus_loop_drops_the_items_and_resolves_the_waiters(
    broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    thread = LoopThread("test-outbox-closed")
    thread.stop()
    outbox = _outbox(thread, broker)
    with caplog.at_level(logging.ERROR, logger=publishing.__name__):
        outbox.add(1)
    outbox.settled(outbox.ticket()).result(WAIT_S)
    assert broker.batches == []
    assert "1 test items were not published" in caplog.text


def test_settled_is_resolved_at_once_when_nothing_is_pending(
    bus_loop: LoopThread, broker: FakeBroker
) -> None:
    outbox = _outbox(bus_loop, broker)
    future: concurrent.futures.Future[None] = outbox.settled(outbox.ticket())
    assert future.done()
