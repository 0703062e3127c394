"""A webhook's recent deliveries, accepted and refused, read from the events index.

Both kinds carry the webhook's resource id (``proctor.webhook.<slug>``): as the resource by
default and in every rejection, as a related resource (role ``webhook``) when a template
chose another resource.
"""

from __future__ import annotations

from proctor.events.model import Event
from proctor.runtime.store import EventFilter, Store
from proctor.runtime.webhooks.intake import REJECTED_EVENT
from proctor.runtime.webhooks.mapping import DELIVERY_ID_LABEL, webhook_resource_id
from proctor.runtime.webhooks.records import DeliveryRecord

__all__ = ("delivery_record", "recent_deliveries")


def delivery_record(event: Event, slug: str) -> DeliveryRecord:
    """What a delivery's event says about it."""
    if event.event == REJECTED_EVENT:
        payload = event.payload
        status = payload.get("status")
        return DeliveryRecord(
            event_id=event.id,
            occurred=event.occurred,
            outcome="rejected",
            event=event.event,
            reason=str(payload.get("reason", "")) or None,
            status=status if isinstance(status, int) else None,
            message=str(payload.get("message", "")) or None,
        )
    resource_id = webhook_resource_id(slug)
    delivery_id = (
        event.resource.get(DELIVERY_ID_LABEL) if event.resource.id == resource_id else None
    )
    for related in event.related:
        if delivery_id is None and related.id == resource_id:
            delivery_id = related.get(DELIVERY_ID_LABEL)
    return DeliveryRecord(
        event_id=event.id,
        occurred=event.occurred,
        outcome="accepted",
        event=event.event,
        delivery_id=delivery_id,
    )


async def recent_deliveries(store: Store, slug: str, *, limit: int = 20) -> list[DeliveryRecord]:
    """The last ``limit`` requests to ``slug`` the events index holds, newest first."""
    resource_id = webhook_resource_id(slug)
    own = await store.events.query(EventFilter(resource_ids=[resource_id]), limit=limit)
    related = await store.events.query(EventFilter(related_resource_ids=[resource_id]), limit=limit)
    events = {event.id: event for event in [*own.items, *related.items]}.values()
    newest = sorted(events, key=lambda e: (e.occurred, e.id), reverse=True)[:limit]
    return [delivery_record(event, slug) for event in newest]
