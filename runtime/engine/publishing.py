"""Ordered, batched, never-blocking publishing of what runs produce (state events, log lines).

Each ``BusThread`` gets one ``RunPublisher`` with two outboxes. An ``Outbox`` keeps items in
the order they were added. Adding an item never waits: the first item after a quiet spell
starts one *drain* on the bus loop, which lingers a moment (``linger_s``) so that items arrive
together, then publishes everything pending in batches, one batch at a time, until nothing is
left. So user code never waits per transition, there is one cross-thread wake-up per drain
(not per item), batches grow with the load, and per-run order holds. ``settled(ticket)`` gives
a future that resolves once everything added up to that ticket is acknowledged; a top-level
flow waits on it before it returns (and cuts the linger short).

A batch the broker did not acknowledge in time (``BrokerUnavailableError``) is put back in
front and sent again with the same ids, so JetStream stores it once. Only a refusal that a
retry cannot fix (a closed bus) drops a batch, and that is logged as an error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
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
_RETRY_PAUSE_S = 0.5
SETTLE_TIMEOUT_S = 60.0
"""How long a finished top-level run waits for its events to be stored before giving up."""


class Outbox(Generic[T]):
    """Items published in order, in batches, by one drain at a time on the bus loop."""

    def __init__(
        self,
        publish: Callable[[list[T]], Awaitable[Any]],
        spawn: Callable[[Coroutine[Any, Any, None]], concurrent.futures.Future[None]],
        *,
        what: str,
        linger_s: float = 0.002,
    ) -> None:
        self._publish = publish
        self._spawn = spawn
        self._what = what
        self._linger_s = linger_s
        self._lock = threading.Lock()
        self._pending: list[T] = []
        self._draining = False
        self._hurry: asyncio.Event | None = None
        self._added = 0
        self._settled = 0
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []

    def add(self, item: T) -> None:
        """Queue ``item``; a drain starts if none is running."""
        with self._lock:
            self._pending.append(item)
            self._added += 1
            if self._draining:
                return
            self._draining = True
        self._start_drain()

    def _start_drain(self) -> None:
        try:
            self._spawn(self._drain())
        except RuntimeError as error:  # the bus loop is closed
            with self._lock:
                dropped, self._pending = self._pending, []
                self._draining = False
            self._settle(len(dropped), error)

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
            with contextlib.suppress(RuntimeError):
                self._spawn(self._wake())
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
        self._hurry = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self._linger_s)
        self._hurry = None
        while True:
            with self._lock:
                batch = self._pending[:_MAX_BATCH]
                del self._pending[:_MAX_BATCH]
                if not batch:
                    self._draining = False
                    return
            try:
                await self._publish(batch)
            except BrokerUnavailableError as error:
                log.warning("%d %s not acknowledged yet, sending again: %s",
                            len(batch), self._what, error)  # fmt: skip
                with self._lock:
                    self._pending[:0] = batch
                await asyncio.sleep(_RETRY_PAUSE_S)
                continue
            except Exception as error:
                self._settle(len(batch), error)
                continue
            self._settle(len(batch), None)

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
