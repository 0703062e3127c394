"""Ordered, batched, pipelined publishing of what runs produce (state events, log lines).

Each ``BusThread`` gets one ``RunPublisher`` with two outboxes. An ``Outbox`` keeps items in
the order they were added. The first item after a quiet spell starts one *drain* on the bus
loop, which lingers a moment (``linger_s``) so that items arrive together, then takes what is
pending as a batch and publishes it, until nothing is left. Batches are pipelined: up to
``_MAX_IN_FLIGHT`` are on the wire at once (the broker stores them in the order they were
sent), and they are settled in that order. So user code never waits per transition, there is
one cross-thread wake-up per drain (not per item), batches grow with the load, and per-run
order holds. ``settled(ticket)`` gives a future that resolves once everything added up to that
ticket is acknowledged; a top-level flow waits on it before it returns (and cuts the linger
short).

*Hand-off.* A thread running user code that adds items in a tight loop holds the GIL, and the
bus thread gets it back only every ``sys.getswitchinterval()`` (5 ms) per turn of its loop: the
backlog would then reach the broker in a few large bursts, mostly after the flow has returned.
So once ``handoff_at`` items are waiting and the drain is between batches, ``add`` wakes the
drain and waits until it has taken them (at most ``handoff_wait_s``, and once per batch: a
drain that cannot take more, because ``_MAX_IN_FLIGHT`` batches are unacknowledged, costs
the adder one such wait, not one per item). The broker then stores events while the flow runs.

A batch the broker did not acknowledge in time (``BrokerUnavailableError``) is put back in
front and sent again with the same ids, so JetStream stores it once, together with the
batches sent after it (a later one acknowledged meanwhile then precedes it in the stream;
readers order a run's events by ``follows``). Only a refusal that a retry cannot fix (a
closed bus) drops a batch, and that is logged as an error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from proctor.core.errors import BrokerUnavailableError
from proctor.events.bus import EventBus
from proctor.events.emit import BusThread
from proctor.events.model import WireEvent

__all__ = ("SETTLE_TIMEOUT_S", "Outbox", "RunPublisher", "asettle", "run_publisher", "settle")

log = logging.getLogger(__name__)
T = TypeVar("T")

_MAX_BATCH = 4000
_MAX_IN_FLIGHT = 4
_RETRY_PAUSE_S = 0.5
SETTLE_TIMEOUT_S = 60.0
"""How long a finished top-level run waits for its events to be stored before giving up."""


class Outbox(Generic[T]):
    """Items published in order, in pipelined batches, by one drain at a time on the bus
    loop (see the module)."""

    def __init__(
        self,
        publish: Callable[[list[T]], Awaitable[Any]],
        spawn: Callable[[Coroutine[Any, Any, None]], concurrent.futures.Future[None]],
        *,
        what: str,
        linger_s: float = 0.002,
        handoff_at: int = 500,
        handoff_wait_s: float = 0.005,
    ) -> None:
        self._publish = publish
        self._spawn = spawn
        self._what = what
        self._linger_s = linger_s
        self._handoff_at = handoff_at
        self._handoff_wait_s = handoff_wait_s
        self._lock = threading.Lock()
        self._taken = threading.Condition(self._lock)
        self._takes = 0  # times the drain took what was pending (a hand-off waits for one)
        self._handing_off = False
        self._pending: list[T] = []
        self._draining = False
        self._drain_thread: int | None = None
        self._hurry: asyncio.Event | None = None
        self._added = 0
        self._settled = 0
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []

    def add(self, item: T) -> None:
        """Queue ``item``; a drain starts if none is running (see the module for when this
        waits a moment for the drain)."""
        with self._lock:
            self._pending.append(item)
            self._added += 1
            if not self._draining:
                self._draining = True
                start = True
            elif (
                len(self._pending) < self._handoff_at
                or self._handing_off
                or threading.get_ident() == self._drain_thread
            ):
                return
            else:
                self._handing_off, start, takes = True, False, self._takes
        if start:
            self._start_drain()
        else:
            self._hand_off(takes)

    def _start_drain(self) -> None:
        drain = self._drain()
        try:
            self._spawn(drain)
        except RuntimeError as error:  # the bus loop is closed
            drain.close()
            with self._lock:
                dropped, self._pending = self._pending, []
                self._draining = False
            self._settle(len(dropped), error)

    def _wake_drain(self) -> None:
        """Ask the drain for what is pending now (cutting its linger short)."""
        wake = self._wake()
        try:
            self._spawn(wake)
        except RuntimeError:  # the bus loop is closed: there is no drain to wake
            wake.close()

    def _hand_off(self, takes: int) -> None:
        """Wake the drain; wait until it has taken what is pending (``takes`` moved on)."""
        self._wake_drain()
        with self._taken:
            self._taken.wait_for(lambda: self._takes != takes, self._handoff_wait_s)

    def ticket(self) -> int:
        """A mark covering every item added so far (for ``settled``)."""
        with self._lock:
            return self._added

    def settled(self, ticket: int) -> concurrent.futures.Future[None]:
        """A future resolved once every item up to ``ticket`` is acknowledged (or dropped)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._settled >= ticket:
                future.set_result(None)
                return future
            self._waiters.append((ticket, future))
            lingering = self._draining
        if lingering:
            self._wake_drain()
        return future

    @property
    def backlog(self) -> int:
        """Items added but not yet acknowledged."""
        with self._lock:
            return self._added - self._settled

    async def _wake(self) -> None:
        if self._hurry is not None:
            self._hurry.set()

    async def _drain(self) -> None:
        self._drain_thread = threading.get_ident()
        hurry = self._hurry = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hurry.wait(), self._linger_s)
        in_flight: deque[tuple[asyncio.Future[Any], list[T]]] = deque()
        while True:
            hurry.clear()
            with self._lock:
                batch = self._pending[:_MAX_BATCH]
                del self._pending[:_MAX_BATCH]
                if not batch and not in_flight:
                    self._draining = False
                    self._hurry = None
                    self._took()
                    return
            if batch:
                in_flight.append((asyncio.ensure_future(self._publish(batch)), batch))
                await asyncio.sleep(0)  # the batch is on its way before a hand-off returns
            with self._lock:
                self._took()
            await self._next_turn(in_flight[0][0], hurry, more=len(in_flight) < _MAX_IN_FLIGHT)
            if self._settle_finished(in_flight):
                await self._send_again(in_flight)

    def _took(self) -> None:
        """The drain has taken what was pending (called holding the lock)."""
        self._takes += 1
        self._handing_off = False
        self._taken.notify_all()

    @staticmethod
    async def _next_turn(oldest: asyncio.Future[Any], hurry: asyncio.Event, more: bool) -> None:
        """Until the oldest batch in flight is settled, or (``more``: another batch may go
        out) a hand-off or a finished run asks for what is pending now."""
        if not more:
            await asyncio.wait((oldest,))
            return
        hurried = asyncio.ensure_future(hurry.wait())
        try:
            await asyncio.wait((oldest, hurried), return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurried.cancel()

    def _settle_finished(self, in_flight: deque[tuple[asyncio.Future[Any], list[T]]]) -> bool:
        """Settle the finished batches at the front, in order. True if the oldest one was
        not acknowledged (it stays in front, to be sent again)."""
        while in_flight and in_flight[0][0].done():
            publishing, batch = in_flight[0]
            error: BaseException | None = (
                asyncio.CancelledError("publishing was cancelled")
                if publishing.cancelled()
                else publishing.exception()
            )
            if isinstance(error, BrokerUnavailableError):
                log.warning("%d %s not acknowledged yet, sending again: %s",
                            len(batch), self._what, error)  # fmt: skip
                return True
            in_flight.popleft()
            self._settle(len(batch), error)
        return False

    async def _send_again(self, in_flight: deque[tuple[asyncio.Future[Any], list[T]]]) -> None:
        """Put the unacknowledged oldest batch back in front of what is pending, with every
        batch sent after it, acknowledged or not (JetStream stores an id once): settled by
        count, none may be settled before it."""
        await asyncio.wait([publishing for publishing, _ in in_flight])
        again = [item for _, batch in in_flight for item in batch]
        in_flight.clear()
        with self._lock:
            self._pending[:0] = again
        await asyncio.sleep(_RETRY_PAUSE_S)

    def _settle(self, count: int, error: BaseException | None) -> None:
        if error is not None:
            log.error("%d %s were not published: %s", count, self._what, error)
        resolved: list[concurrent.futures.Future[None]] = []
        with self._lock:
            self._settled += count
            still: list[tuple[int, concurrent.futures.Future[None]]] = []
            for ticket, waiter in self._waiters:
                if ticket <= self._settled:
                    resolved.append(waiter)
                else:
                    still.append((ticket, waiter))
            self._waiters = still
        for waiter in resolved:
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # given up on
                waiter.set_result(None)


class RunPublisher:
    """The outboxes of one ``BusThread``: state-change events and run log lines."""

    def __init__(self, thread: BusThread) -> None:
        from proctor.runtime.engine.log_shipping import log_sink_for

        # Only a weak reference to the thread: the registry below is keyed by it weakly.
        thread_ref = weakref.ref(thread)

        def spawn(coroutine: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
            alive = thread_ref()
            if alive is None:
                coroutine.close()
                raise RuntimeError("the bus thread is gone")
            return alive.spawn(coroutine)

        self.events: Outbox[WireEvent] = Outbox(_publisher_of(thread.bus), spawn, what="run events")
        self.logs: Outbox[Any] = Outbox(
            log_sink_for(thread.bus).publish, spawn, what="run log lines"
        )

    def ticket(self) -> tuple[int, int]:
        return self.events.ticket(), self.logs.ticket()

    def settled(self, ticket: tuple[int, int]) -> concurrent.futures.Future[None]:
        """Resolved once the events and log lines up to ``ticket`` are stored."""
        events, logs = self.events.settled(ticket[0]), self.logs.settled(ticket[1])
        both: concurrent.futures.Future[None] = concurrent.futures.Future()

        def check(_: object) -> None:
            if events.done() and logs.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    both.set_result(None)

        events.add_done_callback(check)
        logs.add_done_callback(check)
        return both


def _publisher_of(bus: EventBus) -> Callable[[list[WireEvent]], Awaitable[Any]]:
    """How an outbox publishes to ``bus``: without receipts where the bus can (JetStream)."""
    publish_all = getattr(bus, "publish_all", None)  # imports no bus module (nats-py) for it
    return publish_all if publish_all is not None else bus.publish_many


_lock = threading.Lock()
_publishers: weakref.WeakKeyDictionary[BusThread, RunPublisher] = weakref.WeakKeyDictionary()


def run_publisher(thread: BusThread | None) -> RunPublisher | None:
    """The ``RunPublisher`` of ``thread`` (made on first use), or None when events go nowhere."""
    if thread is None:
        return None
    with _lock:
        publisher = _publishers.get(thread)
        if publisher is None:
            publisher = _publishers[thread] = RunPublisher(thread)
        return publisher


def _not_settled(publisher: RunPublisher, timeout_s: float) -> None:
    log.error(
        "%d run events and %d log lines are not confirmed stored after %g s; they stay "
        "queued and are sent again while this process runs",
        publisher.events.backlog, publisher.logs.backlog, timeout_s,
    )  # fmt: skip


def settle(publisher: RunPublisher | None, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Block until everything published so far is stored (a top-level run's last step)."""
    if publisher is None:
        return
    try:
        publisher.settled(publisher.ticket()).result(timeout_s)
    except concurrent.futures.TimeoutError:
        _not_settled(publisher, timeout_s)


async def asettle(publisher: RunPublisher | None, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """``settle`` for async code: awaits without blocking the event loop."""
    if publisher is None:
        return
    try:
        await asyncio.wait_for(
            asyncio.wrap_future(publisher.settled(publisher.ticket())), timeout_s
        )
    except TimeoutError:
        _not_settled(publisher, timeout_s)
