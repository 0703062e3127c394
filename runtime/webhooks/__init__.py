"""Inbound webhooks: verify signed requests and turn them into events.

Pure parts: presets (signatures), the ``Webhook`` model, request → event mapping, ``accept``,
the reason → HTTP status table, the ``ReplayGuard`` protocol with an in-memory guard. Server
parts: ``WebhookRegistry`` (definitions in the store, cached lookup), ``WebhookReceiver`` (one
request to its answer: publish, 2xx once JetStream acknowledged, 503 when the broker is down
(the claim stays unanswered, so the retry passes), ``proctor.webhook.rejected`` for every
refusal) and ``JetStreamReplayGuard`` (delivery ids in a NATS KV bucket, shared by API
replicas).
"""

from proctor.runtime.webhooks.intake import (
    REJECTED_EVENT,
    Accepted,
    accept,
    delivery_event_id,
    rejection_event,
)
from proctor.runtime.webhooks.mapping import (
    DELIVERY_ID_LABEL,
    WebhookRequest,
    build_event,
    build_wire_event,
    parse_body,
    template_context,
    webhook_resource_id,
)
from proctor.runtime.webhooks.model import SLUG_PATTERN, Webhook, WebhookSettings, generate_secret
from proctor.runtime.webhooks.presets import (
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    Verified,
    WebhookPreset,
    verify_request,
)
from proctor.runtime.webhooks.reasons import (
    HTTP_STATUS,
    MAX_WEBHOOK_BODY_BYTES,
    RejectReason,
    check_body_size,
    http_status,
)
from proctor.runtime.webhooks.records import (
    DeliveryRecord,
    RotateSecret,
    WebhookApplied,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
)
from proctor.runtime.webhooks.replay import (
    Claim,
    DeliveryClaim,
    InMemoryReplayGuard,
    ReplayGuard,
    replay_key,
)

__all__ = (
    "DEFAULT_REPLAY_WINDOW",
    "DEFAULT_TOLERANCE",
    "DELIVERY_ID_LABEL",
    "HTTP_STATUS",
    "MAX_WEBHOOK_BODY_BYTES",
    "REJECTED_EVENT",
    "SLUG_PATTERN",
    "Accepted",
    "Claim",
    "DeliveryClaim",
    "DeliveryRecord",
    "InMemoryReplayGuard",
    "RejectReason",
    "ReplayGuard",
    "RotateSecret",
    "Verified",
    "Webhook",
    "WebhookApplied",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookInfo",
    "WebhookPreset",
    "WebhookRequest",
    "WebhookSettings",
    "accept",
    "build_event",
    "build_wire_event",
    "check_body_size",
    "delivery_event_id",
    "generate_secret",
    "http_status",
    "parse_body",
    "rejection_event",
    "replay_key",
    "template_context",
    "verify_request",
    "webhook_resource_id",
)
