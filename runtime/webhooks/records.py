"""What the webhook API takes and shows. Secrets come in (create, rotate) and go out exactly
once (the ``WebhookCreated`` answer of a create or a rotation); no other model carries them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

from proctor.runtime.webhooks.model import WebhookSettings

__all__ = (
    "DEFAULT_ROTATION_GRACE",
    "DeliveryRecord",
    "RotateSecret",
    "WebhookApplied",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookInfo",
)

DEFAULT_ROTATION_GRACE = timedelta(hours=24)
"""How long the previous secret stays valid after a rotation, by default."""


class WebhookCreate(WebhookSettings):
    """A new webhook. Leave ``secret`` out to have one generated (and shown once)."""

    secret: SecretStr | None = Field(
        default=None,
        description="The signing secret the sender uses; generated when left out (not for "
        "preset none). 'whsec_<base64>' for standard.",
    )
    enabled: bool = Field(default=True, description="A disabled webhook answers 404.")


class WebhookInfo(WebhookSettings):
    """A stored webhook, without its secrets."""

    id: UUID
    enabled: bool
    url_path: str = Field(description="Where senders POST: /hooks/<slug> on the server.")
    created: datetime
    updated: datetime
    previous_secret_expires: datetime | None = Field(
        default=None,
        description="Until when the secret replaced by the last rotation is still accepted.",
    )


class WebhookCreated(BaseModel):
    """The answer to a create or a rotation: the only place a secret is ever shown. It is
    masked in ``repr``, but serialised in clear (that is how the API answer carries it)."""

    model_config = ConfigDict(frozen=True)

    webhook: WebhookInfo
    secret: SecretStr | None = Field(
        default=None,
        description="The new secret when the server generated it (null when it was given): "
        "shown once, store it now.",
    )

    @field_serializer("secret", when_used="json")
    def _reveal(self, secret: SecretStr | None) -> str | None:
        return None if secret is None else secret.get_secret_value()


class WebhookApplied(WebhookCreated):
    """The answer to an apply (create or update by slug)."""

    created: bool = Field(description="True if the webhook was new, False if it was updated.")


class RotateSecret(BaseModel):
    """A secret rotation: a new secret (generated when left out); the current one stays valid
    for ``grace`` so the sender can switch without losing deliveries."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    secret: SecretStr | None = Field(default=None, description="The new secret, or generate one.")
    grace: timedelta = Field(
        default=DEFAULT_ROTATION_GRACE,
        ge=timedelta(0),
        le=timedelta(days=30),
        description="How long the current secret keeps working (0: replaced at once).",
    )


class DeliveryRecord(BaseModel):
    """One recent request to a webhook, as the events index recorded it."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    occurred: datetime
    outcome: Literal["accepted", "rejected"]
    event: str = Field(description="The event's name (proctor.webhook.rejected if refused).")
    delivery_id: str | None = Field(default=None, description="The sender's delivery id.")
    reason: str | None = Field(default=None, description="Why it was refused.")
    status: int | None = Field(default=None, description="The HTTP status it was refused with.")
    message: str | None = Field(default=None, description="What was wrong with it.")
