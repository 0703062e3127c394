"""Why an inbound webhook request is refused, and the one table of HTTP statuses for it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from proctor.core.errors import WebhookRejectedError
from proctor.events.model import MAX_PAYLOAD_BYTES

__all__ = (
    "HTTP_STATUS",
    "MAX_WEBHOOK_BODY_BYTES",
    "RejectReason",
    "check_body_size",
    "http_status",
    "reject",
)

MAX_WEBHOOK_BODY_BYTES: Final = MAX_PAYLOAD_BYTES
"""Largest request body accepted: the body becomes the event payload, which has this limit.
The server stops reading past it (and refuses a larger ``Content-Length`` before reading)."""


class RejectReason(StrEnum):
    """The reason codes of ``WebhookRejectedError``; they go in ``proctor.webhook.rejected``."""

    UNKNOWN_WEBHOOK = "unknown_webhook"
    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED = "replayed"
    TOO_LARGE = "too_large"
    BAD_BODY = "bad_body"


HTTP_STATUS: Final[Mapping[RejectReason, int]] = MappingProxyType(
    {
        RejectReason.UNKNOWN_WEBHOOK: 404,
        RejectReason.MISSING_HEADER: 401,
        RejectReason.MALFORMED_HEADER: 401,
        RejectReason.BAD_SIGNATURE: 401,
        RejectReason.STALE_TIMESTAMP: 401,
        RejectReason.REPLAYED: 401,
        RejectReason.TOO_LARGE: 413,
        RejectReason.BAD_BODY: 400,
    }
)
"""The HTTP status the server answers for each reason."""


def http_status(error: WebhookRejectedError) -> int:
    """The HTTP status for ``error`` (400 for a reason this table does not know)."""
    try:
        return HTTP_STATUS[RejectReason(error.reason)]
    except ValueError:
        return 400


def reject(reason: RejectReason, message: str) -> WebhookRejectedError:
    """A ``WebhookRejectedError`` for ``reason``; ``message`` must not hold a secret."""
    return WebhookRejectedError(message, reason=reason)


def check_body_size(size: int) -> None:
    """Refuse a body (or a ``Content-Length``) above ``MAX_WEBHOOK_BODY_BYTES``."""
    if size > MAX_WEBHOOK_BODY_BYTES:
        raise reject(
            RejectReason.TOO_LARGE,
            f"the body is {size} bytes; webhooks accept at most {MAX_WEBHOOK_BODY_BYTES}",
        )
