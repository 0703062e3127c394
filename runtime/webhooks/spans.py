"""The span of an accepted inbound webhook: ``proctor.webhook <slug>`` (a server span) around
publishing its event, which carries the span on to the automations it fires. A request that
carries a valid W3C ``traceparent`` header (a traced sender) is its parent; an invalid one is
ignored, never a reason to refuse the delivery."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from opentelemetry.trace import SpanKind

from proctor.core.tracing import check_traceparent
from proctor.events.emit import publishing
from proctor.events.model import Event

__all__ = ("webhook_span",)


def webhook_span(
    slug: str, headers: Mapping[str, str], event: Event
) -> AbstractContextManager[Event]:
    """``event`` with its trace context, within the span of its delivery (``headers``: the
    request's, names lower-case)."""
    attributes = {
        "proctor.webhook.slug": slug,
        "proctor.event.id": str(event.id),
        "proctor.event.name": event.event,
        "http.request.method": "POST",
        "http.route": "/hooks/{slug}",
    }
    return publishing(
        event,
        f"proctor.webhook {slug}",
        attributes,
        kind=SpanKind.SERVER,
        parent=_incoming(headers.get("traceparent")),
    )


def _incoming(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_traceparent(value.strip())
    except ValueError:
        return None
