"""The span of an accepted inbound webhook: ``proctor.webhook <slug>`` (a server span) around
publishing its event, which carries the span on to the automations it fires. A request that
carries a valid W3C ``traceparent`` header (a traced sender) is its parent; an invalid one is
ignored, never a reason to refuse the delivery. Untraced, the event carries the sender's
``traceparent`` (as ``proctor.events.emit.publishing`` does)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Final

from opentelemetry.trace import SpanKind

from proctor.core.tracing import (
    check_traceparent,
    current_traceparent,
    traced,
    traceparent_of,
    tracer,
)
from proctor.events.model import Event, WireEvent

__all__ = ("webhook_span",)

_END: Final = b"}"


@contextlib.contextmanager
def webhook_span(
    slug: str, headers: Mapping[str, str], event: Event | WireEvent
) -> Iterator[Event | WireEvent]:
    """``event`` with its trace context, within the span of its delivery (``headers``: the
    request's, names lower-case)."""
    parent = _incoming(headers.get("traceparent"))
    if parent is None and tracer() is None:  # untraced, and no context to carry on: no span
        traceparent = current_traceparent()
        yield _carrying(event, traceparent) if traceparent else event
        return
    attributes = {
        "proctor.webhook.slug": slug,
        "proctor.event.id": str(event.id),
        "proctor.event.name": event.event,
        "http.request.method": "POST",
        "http.route": "/hooks/{slug}",
    }
    with traced(
        f"proctor.webhook {slug}", kind=SpanKind.SERVER, attributes=attributes, parent=parent
    ) as span:
        traceparent = traceparent_of(span) if span is not None else current_traceparent()
        yield _carrying(event, traceparent) if traceparent else event


def _carrying(event: Event | WireEvent, traceparent: str) -> Event | WireEvent:
    """``event`` with ``traceparent``: the model's last field, so last in its JSON too (a
    wire event comes without one)."""
    if isinstance(event, Event):
        return event.model_copy(update={"traceparent": traceparent})
    field = b',"traceparent":"' + traceparent.encode() + b'"}'
    return event._replace(data=event.data.removesuffix(_END) + field)


def _incoming(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_traceparent(value.strip())
    except ValueError:
        return None
