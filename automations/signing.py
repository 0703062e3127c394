"""Request signatures shared by outgoing webhooks (signing) and inbound ones (verifying).

Standard Webhooks (https://www.standardwebhooks.com): headers ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` = space-separated
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``; the secret is ``whsec_<base64 key>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

__all__ = (
    "STANDARD_SECRET_PREFIX",
    "WEBHOOK_ID",
    "WEBHOOK_SIGNATURE",
    "WEBHOOK_TIMESTAMP",
    "generate_standard_secret",
    "hmac_sha256",
    "parse_standard_secret",
    "standard_headers",
    "standard_signature",
)

STANDARD_SECRET_PREFIX: Final = "whsec_"
WEBHOOK_ID: Final = "webhook-id"
WEBHOOK_TIMESTAMP: Final = "webhook-timestamp"
WEBHOOK_SIGNATURE: Final = "webhook-signature"
_KEY_BYTES: Final = 32


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 digest of ``message`` under ``key``."""
    return hmac.new(key, message, hashlib.sha256).digest()


def generate_standard_secret() -> str:
    """A fresh ``whsec_`` secret with a 256-bit key."""
    return STANDARD_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def parse_standard_secret(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_<base64>`` secret; ``ValueError`` (without the secret)."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        raise ValueError("a Standard Webhooks secret starts with 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after 'whsec_' is not valid base64") from None
    if len(key) < 16:
        raise ValueError("the key after 'whsec_' is shorter than 16 bytes")
    return key


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` for ``webhook-signature``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac_sha256(key, signed)).decode()


def standard_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        WEBHOOK_ID: message_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: standard_signature(key, message_id, timestamp, body),
    }
