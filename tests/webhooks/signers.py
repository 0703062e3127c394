"""Sign requests the way each provider does, written from the providers' docs (not from the
verifier), so the tests check our verification against independent signing code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctor.runtime.webhooks import Webhook, WebhookPreset

GITHUB_SAMPLES = Path(__file__).parent / "data" / "github"
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
STANDARD_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRETS = {
    WebhookPreset.GITHUB: "gh-test-secret",
    WebhookPreset.STRIPE: "whsec_stripe_test_secret",
    WebhookPreset.SLACK: "8f742231b10e8888abcd99yyyzzz85a5",
    WebhookPreset.STANDARD: STANDARD_SECRET,
    WebhookPreset.SHARED_SECRET: "shared-test-secret",
}


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Signed:
    body: bytes
    headers: dict[str, str]
    delivery_id: str | None


def sign_github(secret: str, body: bytes, at: datetime, delivery: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + _hex(secret, body),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
    }


def sign_stripe(secret: str, body: bytes, at: datetime, delivery: str) -> dict[str, str]:
    t = int(at.timestamp())
    return {
        "Stripe-Signature": f"t={t},v1={_hex(secret, f'{t}.'.encode() + body)},v0=ignored",
        "Content-Type": "application/json; charset=utf-8",
    }


def sign_slack(secret: str, body: bytes, at: datetime, delivery: str) -> dict[str, str]:
    t = int(at.timestamp())
    return {
        "X-Slack-Request-Timestamp": str(t),
        "X-Slack-Signature": "v0=" + _hex(secret, f"v0:{t}:".encode() + body),
        "Content-Type": "application/json",
    }


def sign_standard(secret: str, body: bytes, at: datetime, delivery: str) -> dict[str, str]:
    t = int(at.timestamp())
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{delivery}.{t}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(t),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def sign_shared(secret: str, body: bytes, at: datetime, delivery: str) -> dict[str, str]:
    return {"X-Webhook-Secret": secret, "Content-Type": "application/json"}


SIGNERS: dict[WebhookPreset, Callable[[str, bytes, datetime, str], dict[str, str]]] = {
    WebhookPreset.GITHUB: sign_github,
    WebhookPreset.STRIPE: sign_stripe,
    WebhookPreset.SLACK: sign_slack,
    WebhookPreset.STANDARD: sign_standard,
    WebhookPreset.SHARED_SECRET: sign_shared,
}


def sample_body(preset: WebhookPreset) -> dict[str, Any]:
    """A realistic body per provider (GitHub's is a real sample payload)."""
    if preset is WebhookPreset.GITHUB:
        sample: dict[str, Any] = json.loads((GITHUB_SAMPLES / "push-payload.json").read_text())
        return sample
    if preset is WebhookPreset.STRIPE:
        return {"id": f"evt_{uuid.uuid4().hex[:24]}", "type": "charge.succeeded", "data": {}}
    if preset is WebhookPreset.SLACK:
        return {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10]}", "event": {}}
    return {"type": "order.created", "order": {"id": 42, "total": 9.5}}


def webhook_for(preset: WebhookPreset, **fields: Any) -> Webhook:
    secret = SECRETS.get(preset)
    return Webhook(slug=f"hook-{preset.value}", preset=preset, secret=secret, **fields)


def signed(
    preset: WebhookPreset,
    body: bytes,
    *,
    at: datetime = NOW,
    secret: str | None = None,
    delivery: str | None = None,
) -> Signed:
    delivery = delivery or str(uuid.uuid4())
    headers = SIGNERS[preset](secret or SECRETS[preset], body, at, delivery)
    expected: str | None = delivery
    if preset in (WebhookPreset.STRIPE, WebhookPreset.SLACK):
        expected = json.loads(body).get("id" if preset is WebhookPreset.STRIPE else "event_id")
    if preset is WebhookPreset.SHARED_SECRET:
        expected = None
    return Signed(body, headers, expected)
