"""``WebhookReceiver``: one inbound request to its answer, without the HTTP framework.

lookup (404; 503 if the store is down) → ``accept`` (verify 401, template 400, size 413,
claim the delivery id; 401 ``replayed`` if it was answered 2xx before) → publish the event and
wait for JetStream's acknowledgement → 202 → once the 202 is handed to the connection, the
caller marks the claim answered (``answered``). If the broker is down or does not acknowledge
within ``publish_timeout_s``: 503 with ``Retry-After``, and the claim stays unanswered, as it
does when the process dies before answering: the sender's retry is accepted and publishes the
same event id, so JetStream stores it once even if the first attempt was stored after all
(the retry's 202 then says ``"duplicate": true``).

Every refusal is also published as ``proctor.webhook.rejected`` (reason, status, message; no
secret, no body), best effort: it never delays the answer by more than ``publish_timeout_s``
and is skipped while the broker is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from proctor.core.errors import BusError, EventTooLargeError, StoreError, WebhookRejectedError
from proctor.events.bus.base import EventBus
from proctor.events.model import utcnow
from proctor.runtime.webhooks.intake import accept, rejection_event
from proctor.runtime.webhooks.mapping import WebhookRequest
from proctor.runtime.webhooks.reasons import RejectReason, http_status, reject
from proctor.runtime.webhooks.registry import WebhookRegistry
from proctor.runtime.webhooks.replay import DeliveryClaim, ReplayGuard
from proctor.runtime.webhooks.spans import webhook_span

__all__ = ("DEFAULT_PUBLISH_TIMEOUT_S", "RETRY_AFTER_S", "Reply", "WebhookReceiver")

log = logging.getLogger(__name__)

DEFAULT_PUBLISH_TIMEOUT_S: Final = 5.0
"""How long a request waits for JetStream before answering 503 (senders time out at ~10 s)."""
RETRY_AFTER_S: Final = 5


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: a status, a JSON body, extra headers, and the delivery claim to mark
    answered once the answer is sent."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    claim: DeliveryClaim | None = None


def _error(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, **extra}}


class WebhookReceiver:
    """Turns requests to ``/hooks/{slug}`` into acknowledged events (or refusals)."""

    def __init__(
        self,
        bus: EventBus,
        registry: WebhookRegistry,
        guard: ReplayGuard,
        *,
        clock: Callable[[], datetime] = utcnow,
        publish_timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S,
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.bus = bus
        self.registry = registry
        self.guard = guard
        self.publish_timeout_s = publish_timeout_s
        self._clock = clock
        self._connected = connected

    async def receive(self, slug: str, request: WebhookRequest) -> Reply:
        """Verify, publish and answer one request to ``slug``."""
        now = self._clock()
        try:
            webhook = await self.registry.lookup(slug, now=now)
        except StoreError:
            log.warning("webhook %r: the store is unavailable; answered 503", slug[:64])
            return _retry_later("the webhook store is unavailable")
        if webhook is None:
            unknown = reject(RejectReason.UNKNOWN_WEBHOOK, "no such webhook")
            return await self.refuse(slug, unknown, now=now)
        try:
            accepted = await accept(webhook, request, now=now, guard=self.guard)
        except WebhookRejectedError as error:
            return await self.refuse(slug, error, now=now)
        except BusError:  # the replay guard could not reach the broker
            return self._unavailable(slug)
        try:
            if not self._connected():
                raise BusError("not connected")
            async with asyncio.timeout(self.publish_timeout_s):
                # tracing: a span per accepted delivery; its event carries it (spans.py)
                with webhook_span(webhook.slug, request.headers, accepted.message) as event:
                    (receipt,) = await self.bus.publish_many((event,))
        except (BusError, TimeoutError, EventTooLargeError) as error:
            if isinstance(error, EventTooLargeError):
                too_large = reject(RejectReason.TOO_LARGE, f"the event would be too large: {error}")
                return await self.refuse(slug, too_large, now=now)
            return self._unavailable(slug)
        body = {"event_id": str(receipt.event_id), "duplicate": receipt.duplicate}
        return Reply(202, body, claim=accepted.claim)

    async def answered(self, reply: Reply) -> None:
        """Call once ``reply`` is sent: its delivery is now a replay (see the module)."""
        if reply.claim is not None:
            await self.guard.answered(reply.claim.key, expires=reply.claim.expires)

    async def refuse(
        self, slug: str, error: WebhookRejectedError, *, now: datetime | None = None
    ) -> Reply:
        """Answer a refused request, publishing its ``proctor.webhook.rejected`` event."""
        now = now or self._clock()
        status = http_status(error)
        log.info("webhook %r: refused %s (%s)", slug[:64], status, error.reason)
        if self._connected():
            try:
                event = rejection_event(slug, error, now=now)
                async with asyncio.timeout(self.publish_timeout_s):
                    await self.bus.publish(event)
            except (BusError, TimeoutError):
                log.warning("webhook %r: could not record a rejection event", slug[:64])
        if error.reason == RejectReason.UNKNOWN_WEBHOOK:
            return Reply(status, _error("not found"))
        return Reply(status, _error(str(error), reason=error.reason))

    def _unavailable(self, slug: str) -> Reply:
        log.warning("webhook %r: the event broker is unavailable; answered 503", slug[:64])
        return _retry_later("the event broker is unavailable")


def _retry_later(what: str) -> Reply:
    message = f"{what}; the request was not accepted, retry later"
    return Reply(503, _error(message), {"Retry-After": str(RETRY_AFTER_S)})
