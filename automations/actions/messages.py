"""Actions that send something out: a Slack message, an HTTP request, an event."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from proctor.automations.actions.base import ActionBase
from proctor.automations.secrets import Secret, is_masked
from proctor.automations.signing import parse_standard_secret
from proctor.automations.templating import is_template
from proctor.core.errors import ConfigurationError, EventError
from proctor.events.labels import ID_LABEL
from proctor.events.names import validate_event_name

__all__ = ("CallWebhook", "EmitEvent", "SendSlackMessage")


def _check_url(value: SecretStr) -> SecretStr:
    if is_masked(value):  # read back from the API: usable to inspect, refused when saved
        return value
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host (the value is not shown: a secret)")
    return value


class SendSlackMessage(ActionBase):
    """Post to a Slack incoming webhook.

    With neither ``text`` nor ``blocks``, the message is the flow-run alert (flow, run, state,
    deployment, error, last log lines and a link) when the event is about a flow run, and a
    one-line summary of the firing otherwise. The webhook URL is a secret: never logged, never
    shown by the API.
    """

    type: Literal["send-slack-message"] = Field(
        default="send-slack-message", description="Discriminator."
    )
    webhook_url: Secret = Field(description="The incoming-webhook URL (a secret).")
    text: str | None = Field(
        default=None, description="Message text (Slack mrkdwn); may be a template."
    )
    blocks: tuple[dict[str, Any], ...] | None = Field(
        default=None, description="Block Kit blocks; their strings may be templates."
    )

    template_fields: ClassVar[tuple[str, ...]] = ("text", "blocks")

    _url = field_validator("webhook_url", mode="after")(_check_url)


class CallWebhook(ActionBase):
    """Send an HTTP request, signed (Standard Webhooks) when ``secret`` is given.

    The request's ``webhook-id`` is the action's idempotency key, so a retried delivery
    carries the same id. Only public addresses are reached unless the engine's destination
    policy allows more. Without ``body``, the JSON sent is ``{"automation", "firing",
    "event"}``.
    """

    type: Literal["call-webhook"] = Field(default="call-webhook", description="Discriminator.")
    url: Secret = Field(description="Where to send it (a secret: it may hold a token).")
    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = Field(
        default="POST", description="HTTP method."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers; values may be templates."
    )
    body: Any = Field(
        default=None, description="JSON body; its strings may be templates (see above if none)."
    )
    secret: Secret | None = Field(
        default=None, description="A 'whsec_' Standard Webhooks secret to sign requests with."
    )

    template_fields: ClassVar[tuple[str, ...]] = ("headers", "body")

    _url = field_validator("url", mode="after")(_check_url)

    @model_validator(mode="after")
    def _checks(self) -> Self:
        from proctor.automations.outgoing import check_headers  # httpx: load on use

        try:
            check_headers(self.headers, signed=self.secret is not None)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        if self.secret is not None and not is_masked(self.secret):
            try:
                parse_standard_secret(self.secret.get_secret_value())
            except ValueError as error:
                raise ValueError(f"secret: {error}") from None
        return self


class EmitEvent(ActionBase):
    """Emit an event. It carries the causation (``caused_by``, ``hops + 1``), so the engine's
    loop guard stops an automation that keeps re-triggering itself."""

    type: Literal["emit-event"] = Field(default="emit-event", description="Discriminator.")
    event: str = Field(min_length=1, description="The event's name; may be a template.")
    resource: dict[str, str] = Field(
        description="The resource's labels (with 'proctor.resource.id'); values may be templates."
    )
    related: tuple[dict[str, str], ...] = Field(
        default=(), description="Related resources' labels (each with a role)."
    )
    payload: dict[str, Any] = Field(
        default_factory=dict, description="The payload; its strings may be templates."
    )

    template_fields: ClassVar[tuple[str, ...]] = ("event", "resource", "related", "payload")

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if not is_template(self.event):
            try:
                validate_event_name(self.event)
            except EventError as error:
                raise ValueError(f"event: {error}") from None
        if ID_LABEL not in self.resource:
            raise ValueError(f"resource: must hold a {ID_LABEL!r} label")
        return self
