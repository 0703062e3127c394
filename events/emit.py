"""``emit_event``: publish an event from any code, sync or async, and know it is stored.

Publishing goes through an ``EventPublisher``. The one in force is, in order: the one set with
``use_publisher(...)`` (the flow engine and tests set one), else a process-wide one connected to
``PROCTOR_NATS_URL`` or to the local server found through its discovery file. With neither,
``emit_event`` returns ``None`` and publishes nothing, so plain scripts run without a server.

When traced, publishing is a producer span ``proctor.emit <event name>`` (a child of the span
current here), and the event carries it as its ``traceparent``; untraced, the event carries
the current span's context, if there is one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from opentelemetry.trace import SpanKind

from proctor.core.discovery import read_discovery
from proctor.core.loop_thread import LoopThread
from proctor.core.tracing import Attributes, current_traceparent, traced, traceparent_of
from proctor.events.bus.base import EventBus, PublishReceipt
from proctor.events.labels import RelatedResource
from proctor.events.model import Event
from proctor.events.naming import Naming

__all__ = (
    "BusThread",
    "aemit_event",
    "ambient_related",
    "current_publisher",
    "emit_event",
    "publishing",
    "reset_default_publisher",
    "use_publisher",
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class BusThread:
    """An ``EventBus`` running on a private event-loop thread.

    Any thread and any event loop can publish through it: sync code blocks on the result,
    async code awaits it without blocking its own loop. The bus is made by ``factory`` on the
    private loop (a NATS connection belongs to the loop that opened it).
    """

    def __init__(self, factory: Callable[[], Awaitable[EventBus]], *, name: str = "proctor-bus"):
        self._runner = LoopThread(name)
        self._closed = False

        async def make() -> EventBus:
            return await factory()

        try:
            self.bus: EventBus = self.call(make())
        except BaseException:
            self._runner.stop()
            raise

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coroutine`` on the bus loop and wait for its result (from a sync caller)."""
        return self._runner.call(coroutine, timeout_s)

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the bus loop and await its result (from another loop)."""
        return await self._runner.acall(coroutine)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coroutine`` on the bus loop without waiting; the future gives its result."""
        return self._runner.spawn(coroutine)

    def submit(self, event: Event) -> concurrent.futures.Future[PublishReceipt]:
        """Start publishing ``event``; the future resolves once it is stored."""
        return self.spawn(self.bus.publish(event))

    def submit_many(
        self, events: Sequence[Event]
    ) -> concurrent.futures.Future[list[PublishReceipt]]:
        """Start publishing ``events`` pipelined; the future resolves once all are stored."""
        return self.spawn(self.bus.publish_many(events))

    def emit(self, event: Event) -> PublishReceipt:
        return self.submit(event).result()

    async def aemit(self, event: Event) -> PublishReceipt:
        return await asyncio.wrap_future(self.submit(event))

    def close(self) -> None:
        """Close the bus (waiting for its in-flight publishes) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.call(self.bus.close(), timeout_s=30)
        self._runner.stop()


_publisher: ContextVar[BusThread | None] = ContextVar("proctor_publisher", default=None)
ambient_related: ContextVar[tuple[RelatedResource | Mapping[str, str], ...]] = ContextVar(
    "proctor_ambient_related", default=()
)
"""Related resources added to every event emitted in this context (the flow engine sets the
current run here, so a custom event from inside a flow names the run it came from). Plain
label mappings are checked when an event is built, like any related resource."""

_default_lock = threading.Lock()
_default: BusThread | None = None
_default_resolved = False


@contextlib.contextmanager
def use_publisher(publisher: BusThread | None) -> Iterator[BusThread | None]:
    """Publish through ``publisher`` within this block (``None``: publish nothing)."""
    token = _publisher.set(publisher)
    try:
        yield publisher
    finally:
        _publisher.reset(token)


def _default_publisher() -> BusThread | None:
    global _default, _default_resolved
    with _default_lock:
        if _default_resolved:
            return _default
        from proctor.core.settings import ProctorSettings  # pydantic-settings: on first use

        settings = ProctorSettings()
        url, namespace = settings.nats_url, settings.namespace
        if url is None:
            info = read_discovery(settings.home)
            if info is not None:
                url, namespace = info.nats_url, info.namespace
        if url is not None:
            from proctor.events.bus.jetstream import JetStreamEventBus

            naming, nats_url = Naming(namespace), url
            _default = BusThread(
                lambda: JetStreamEventBus.connect(nats_url, naming=naming, declare=False)
            )
        else:
            log.debug("no PROCTOR_NATS_URL and no local server: events are not published")
        _default_resolved = True
        return _default


def reset_default_publisher() -> None:
    """Close the process-wide publisher; the next emit resolves the settings again."""
    global _default, _default_resolved
    with _default_lock:
        if _default is not None:
            _default.close()
        _default, _default_resolved = None, False


def current_publisher() -> BusThread | None:
    """The publisher ``emit_event`` would use here, or None when events go nowhere."""
    explicit = _publisher.get()
    return explicit if explicit is not None else _default_publisher()


def _build(
    event: str,
    resource: Mapping[str, str],
    payload: Mapping[str, Any] | None,
    related: Sequence[Mapping[str, str]] | None,
    occurred: datetime | None,
    id: UUID | None,
    follows: UUID | None,
) -> Event:
    extra = ambient_related.get()
    merged: list[Mapping[str, str]] = list(related or ())
    if extra:
        merged.extend(r.labels if isinstance(r, RelatedResource) else r for r in extra)
    return Event.build(
        event,
        resource,
        payload=payload,
        related=merged,
        occurred=occurred,
        id=id,
        follows=follows,
    )


@contextlib.contextmanager
def publishing(
    event: Event,
    span_name: str,
    attributes: Attributes,
    *,
    kind: SpanKind = SpanKind.PRODUCER,
    parent: str | None = None,
) -> Iterator[Event]:
    """``event`` carrying its trace context, within a span ``span_name`` around its
    publishing (``parent``: a ``traceparent`` to continue, else the current span). Untraced,
    the event carries the context current here (``parent``, if given), if there is one."""
    with traced(span_name, kind=kind, attributes=attributes, parent=parent) as span:
        traceparent = traceparent_of(span) if span is not None else current_traceparent()
        yield event.model_copy(update={"traceparent": traceparent}) if traceparent else event


def _emitting(event: Event) -> contextlib.AbstractContextManager[Event]:
    attributes = {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.message.id": str(event.id),
        "proctor.event.name": event.event,
    }
    return publishing(event, f"proctor.emit {event.event}", attributes)


def emit_event(
    event: str,
    resource: Mapping[str, str],
    *,
    payload: Mapping[str, Any] | None = None,
    related: Sequence[Mapping[str, str]] | None = None,
    occurred: datetime | None = None,
    id: UUID | None = None,
    follows: UUID | None = None,
) -> Event | None:
    """Publish an event and return it once JetStream has stored it.

    Raises ``EventError`` naming the bad field before anything is sent. Returns ``None`` when
    no server is configured or running (nothing is published).
    """
    built = _build(event, resource, payload, related, occurred, id, follows)
    publisher = current_publisher()
    if publisher is None:
        return None
    with _emitting(built) as sent:
        publisher.emit(sent)
    return sent


async def aemit_event(
    event: str,
    resource: Mapping[str, str],
    *,
    payload: Mapping[str, Any] | None = None,
    related: Sequence[Mapping[str, str]] | None = None,
    occurred: datetime | None = None,
    id: UUID | None = None,
    follows: UUID | None = None,
) -> Event | None:
    """The async twin of ``emit_event``: awaits JetStream's acknowledgement."""
    built = _build(event, resource, payload, related, occurred, id, follows)
    publisher = current_publisher()
    if publisher is None:
        return None
    with _emitting(built) as sent:
        await publisher.aemit(sent)
    return sent
