"""Signature verification presets for inbound webhooks. Pure: no I/O, ``now`` is passed in.

Every preset checks the raw body bytes with ``hmac.compare_digest`` against each accepted
secret (the current one and, during a rotation, the previous one) and returns the request's
delivery id, the key of replay protection:

- ``github``: ``X-Hub-Signature-256: sha256=<hex>``; no timestamp; id ``X-GitHub-Delivery``.
- ``stripe``: ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]`` over ``"t.body"``; ``t`` within
  the tolerance; id = the body's ``id`` (``evt_...``), else the matching signature.
- ``slack``: ``X-Slack-Signature: v0=<hex>`` over ``"v0:ts:body"`` with
  ``X-Slack-Request-Timestamp``; id = the body's ``event_id``, else the signature.
- ``standard``: Standard Webhooks, ``webhook-signature: v1,<b64> [v1,<b64> ...]`` (any may
  match: the sender rotates) with ``webhook-timestamp``; id ``webhook-id``.
- ``shared-secret``: the secret itself in a header (``X-Webhook-Secret`` by default;
  ``Authorization: Bearer <secret>`` works too); no id.
- ``none``: explicitly unauthenticated; no id.

A webhook may name a ``delivery_id_header`` that replaces the preset's delivery id.
Failures raise ``WebhookRejectedError`` with a ``RejectReason``; messages name headers, never
secrets or expected signatures.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from pydantic import SecretStr

from proctor.automations.signing import (
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    hmac_sha256,
    parse_standard_secret,
    standard_signature,
)
from proctor.runtime.webhooks.reasons import RejectReason, reject

__all__ = (
    "DEFAULT_REPLAY_WINDOW",
    "DEFAULT_TOLERANCE",
    "Verified",
    "WebhookPreset",
    "verify_request",
)

DEFAULT_TOLERANCE: Final = timedelta(minutes=5)
"""How far a signed timestamp may be from ``now`` (Stripe's and Slack's 5 minutes)."""
DEFAULT_REPLAY_WINDOW: Final = timedelta(days=3)
"""How long a delivery id is remembered: senders retry (and GitHub redelivers) the same id
for up to about 3 days. An id that is only the signature itself is remembered for twice the
timestamp tolerance: after that the timestamp is stale anyway."""
_MAX_DELIVERY_ID: Final = 256


class WebhookPreset(StrEnum):
    """How an inbound webhook authenticates its requests."""

    GITHUB = "github"
    STRIPE = "stripe"
    SLACK = "slack"
    STANDARD = "standard"
    SHARED_SECRET = "shared-secret"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Verified:
    """A request that passed its preset: its delivery id and how long to remember it."""

    delivery_id: str | None
    replay_window: timedelta


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise reject(RejectReason.MISSING_HEADER, f"the request has no {name!r} header")
    return value.strip()


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _timestamp(value: str, name: str, now: datetime, tolerance: timedelta) -> None:
    try:
        seconds = int(value)
    except ValueError:
        raise reject(
            RejectReason.MALFORMED_HEADER, f"{name!r} must be Unix seconds (an integer)"
        ) from None
    skew = abs(now.timestamp() - seconds)
    if skew > tolerance.total_seconds():
        raise reject(
            RejectReason.STALE_TIMESTAMP,
            f"{name!r} is {skew:.0f} s away from the server's time; the tolerance is "
            f"{tolerance.total_seconds():.0f} s (a replay, or a clock out of sync)",
        )


def _bad_signature(header: str) -> Exception:
    return reject(
        RejectReason.BAD_SIGNATURE,
        f"{header!r} does not match the body signed with the webhook's secret",
    )


def _body_field(body: bytes, field: str) -> str | None:
    try:
        value = json.loads(body).get(field)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _github(secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes) -> str:
    name = "x-hub-signature-256"
    scheme, _, given = _header(headers, name).partition("=")
    if scheme != "sha256" or not given:
        raise reject(RejectReason.MALFORMED_HEADER, f"{name!r} must look like 'sha256=<hex>'")
    if not any(_equal(hmac_sha256(key, body).hex(), given) for key in secrets):
        raise _bad_signature(name)
    return _header(headers, "x-github-delivery")


def _stripe(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta,
) -> tuple[str, timedelta]:
    name = "stripe-signature"
    pairs = [item.partition("=") for item in _header(headers, name).split(",")]
    timestamps = [value.strip() for key, _, value in pairs if key.strip() == "t"]
    given = [value.strip() for key, _, value in pairs if key.strip() == "v1" and value.strip()]
    if len(timestamps) != 1:
        raise reject(RejectReason.MALFORMED_HEADER, f"{name!r} must hold one 't=<timestamp>'")
    if not given:
        raise reject(RejectReason.MALFORMED_HEADER, f"{name!r} holds no 'v1=<hex>' signature")
    signed = timestamps[0].encode() + b"." + body
    expected = [hmac_sha256(key, signed).hex() for key in secrets]
    matched = next((g for g in given for e in expected if _equal(e, g)), None)
    if matched is None:
        raise _bad_signature(name)
    _timestamp(timestamps[0], f"{name} t", now, tolerance)
    event_id = _body_field(body, "id")
    return (event_id, DEFAULT_REPLAY_WINDOW) if event_id else (f"v1={matched}", 2 * tolerance)


def _slack(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta,
) -> tuple[str, timedelta]:
    name, stamp_name = "x-slack-signature", "x-slack-request-timestamp"
    given = _header(headers, name)
    stamp = _header(headers, stamp_name)
    if not given.startswith("v0="):
        raise reject(RejectReason.MALFORMED_HEADER, f"{name!r} must look like 'v0=<hex>'")
    signed = b"v0:" + stamp.encode("utf-8", "replace") + b":" + body
    if not any(_equal("v0=" + hmac_sha256(key, signed).hex(), given) for key in secrets):
        raise _bad_signature(name)
    _timestamp(stamp, stamp_name, now, tolerance)
    event_id = _body_field(body, "event_id")
    return (event_id, DEFAULT_REPLAY_WINDOW) if event_id else (given, 2 * tolerance)


def _standard(
    secrets: Sequence[SecretStr],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta,
) -> str:
    message_id = _header(headers, WEBHOOK_ID)
    stamp = _header(headers, WEBHOOK_TIMESTAMP)
    given = _header(headers, WEBHOOK_SIGNATURE).split()
    try:
        seconds = int(stamp)
    except ValueError:
        raise reject(
            RejectReason.MALFORMED_HEADER, f"{WEBHOOK_TIMESTAMP!r} must be Unix seconds"
        ) from None
    expected = [
        standard_signature(
            parse_standard_secret(secret.get_secret_value()), message_id, seconds, body
        )
        for secret in secrets
    ]
    if not any(_equal(e, g) for g in given if g.startswith("v1,") for e in expected):
        raise _bad_signature(WEBHOOK_SIGNATURE)
    _timestamp(stamp, WEBHOOK_TIMESTAMP, now, tolerance)
    return message_id


def _shared_secret(secrets: Sequence[SecretStr], headers: Mapping[str, str], name: str) -> None:
    given = _header(headers, name)
    if name == "authorization" and given[:7].lower() == "bearer ":
        given = given[7:].strip()
    if not any(_equal(secret.get_secret_value(), given) for secret in secrets):
        raise reject(RejectReason.BAD_SIGNATURE, f"{name!r} does not hold the webhook's secret")


def verify_request(
    preset: WebhookPreset,
    *,
    secrets: Sequence[SecretStr],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    secret_header: str = "x-webhook-secret",
    delivery_id_header: str | None = None,
) -> Verified:
    """Check one request against ``preset``; return its delivery id, or raise
    ``WebhookRejectedError``. ``headers`` keys must be lower-case; ``now`` is aware."""
    keys = [secret.get_secret_value().encode() for secret in secrets]
    if preset is not WebhookPreset.NONE and not secrets:
        raise reject(RejectReason.BAD_SIGNATURE, f"the {preset.value!r} webhook has no secret")
    delivery_id: str | None = None
    window = DEFAULT_REPLAY_WINDOW
    if preset is WebhookPreset.GITHUB:
        delivery_id = _github(keys, headers, body)
    elif preset is WebhookPreset.STRIPE:
        delivery_id, window = _stripe(keys, headers, body, now, tolerance)
    elif preset is WebhookPreset.SLACK:
        delivery_id, window = _slack(keys, headers, body, now, tolerance)
    elif preset is WebhookPreset.STANDARD:
        delivery_id = _standard(secrets, headers, body, now, tolerance)
    elif preset is WebhookPreset.SHARED_SECRET:
        _shared_secret(secrets, headers, secret_header)
    if delivery_id_header is not None:
        delivery_id, window = _header(headers, delivery_id_header), DEFAULT_REPLAY_WINDOW
    if delivery_id is not None and len(delivery_id) > _MAX_DELIVERY_ID:
        raise reject(
            RejectReason.MALFORMED_HEADER,
            f"the delivery id is {len(delivery_id)} characters; the limit is {_MAX_DELIVERY_ID}",
        )
    return Verified(delivery_id=delivery_id, replay_window=window)
