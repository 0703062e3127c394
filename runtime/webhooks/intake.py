"""One inbound request, start to finish (minus HTTP and publishing): size, signature,
event, replay. The server publishes the event, answers 2xx once JetStream acknowledged it,
then calls ``ReplayGuard.answered``; until then the claim lets the sender's retry through."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from proctor.core.errors import WebhookRejectedError
from proctor.events.labels import ID_LABEL, NAME_LABEL
from proctor.events.model import Event, WireEvent
from proctor.runtime.webhooks.mapping import (
    WebhookRequest,
    build_wire_event,
    webhook_resource_id,
)
from proctor.runtime.webhooks.model import SLUG_PATTERN, Webhook
from proctor.runtime.webhooks.presets import verify_request
from proctor.runtime.webhooks.reasons import RejectReason, check_body_size, http_status, reject
from proctor.runtime.webhooks.replay import Claim, DeliveryClaim, ReplayGuard, replay_key

__all__ = (
    "DELIVERY_NAMESPACE",
    "REJECTED_EVENT",
    "Accepted",
    "accept",
    "delivery_event_id",
    "rejection_event",
)

REJECTED_EVENT: Final = "proctor.webhook.rejected"
DELIVERY_NAMESPACE: Final = uuid.UUID("5b0e7c1a-3f6d-4c2e-9a8b-1d4f6e2a7c90")


def delivery_event_id(slug: str, delivery_id: str) -> uuid.UUID:
    """The event id of one delivery: the same for every retry of it (UUIDv5 of slug and id),
    so JetStream's ``Nats-Msg-Id`` dedup stores a retried delivery once."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{slug}\n{delivery_id}")


@dataclass(frozen=True, slots=True)
class Accepted:
    """A verified request's event (as the bus takes it: mostly already serialised), and its
    delivery's claim (to mark answered after the 2xx)."""

    message: Event | WireEvent
    claim: DeliveryClaim | None

    @property
    def event(self) -> Event:
        """The event, as a model."""
        message = self.message
        return message.to_event() if isinstance(message, WireEvent) else message


async def accept(
    webhook: Webhook, request: WebhookRequest, *, now: datetime, guard: ReplayGuard
) -> Accepted:
    """Verify ``request`` for ``webhook`` and build its event; raise ``WebhookRejectedError``
    (``too_large``, ``missing_header``, ``bad_signature``, ``stale_timestamp``, ``bad_body``,
    ``replayed``: the delivery was answered 2xx before...) otherwise. The delivery is claimed
    last, so only a request that would have been published is remembered. A request with a
    delivery id gets the event id ``delivery_event_id(slug, delivery id)``: a retry of a
    delivery that was claimed but never answered publishes the same event again."""
    check_body_size(len(request.body))
    verified = verify_request(
        webhook.preset,
        secrets=webhook.secrets,
        headers=request.headers,
        body=request.body,
        now=now,
        tolerance=webhook.tolerance,
        secret_header=webhook.secret_header,
        delivery_id_header=webhook.delivery_id_header,
    )
    delivery_id = verified.delivery_id
    event_id = None if delivery_id is None else delivery_event_id(webhook.slug, delivery_id)
    event = build_wire_event(webhook, request, now=now, delivery_id=delivery_id, event_id=event_id)
    if delivery_id is None:
        return Accepted(event, None)
    claim = DeliveryClaim(replay_key(webhook.slug, delivery_id), now + verified.replay_window)
    if await guard.claim(claim.key, now=now, window=verified.replay_window) is Claim.ANSWERED:
        raise reject(
            RejectReason.REPLAYED,
            f"delivery {delivery_id[:80]!r} was already accepted; a delivery is accepted once",
        )
    return Accepted(event, claim)


def rejection_event(slug: str, error: WebhookRejectedError, *, now: datetime) -> Event:
    """The ``proctor.webhook.rejected`` event for a refused request (no secret in it).
    ``slug`` comes from the URL: one that is not a valid slug is recorded as ``invalid``."""
    slug = slug if re.match(SLUG_PATTERN, slug) else "invalid"
    return Event.build(
        REJECTED_EVENT,
        {ID_LABEL: webhook_resource_id(slug), NAME_LABEL: slug},
        payload={"reason": error.reason, "status": http_status(error), "message": str(error)},
        occurred=now,
    )
