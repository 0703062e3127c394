"""The ``Webhook`` definition: a slug, how requests are verified, and how they become events."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from proctor.automations.signing import generate_standard_secret, parse_standard_secret
from proctor.automations.templating import TemplateStructure, compile_structure
from proctor.core.errors import ConfigurationError, TemplateError
from proctor.runtime.webhooks.presets import DEFAULT_TOLERANCE, WebhookPreset

__all__ = (
    "EVENT_TEMPLATE_KEYS",
    "PRESET_HEADERS",
    "SLUG_PATTERN",
    "Webhook",
    "WebhookSettings",
    "generate_secret",
)

SLUG_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
EVENT_TEMPLATE_KEYS: Final = frozenset({"event", "resource", "related", "payload"})
PRESET_HEADERS: Final = {WebhookPreset.GITHUB: ("x-github-event",)}
"""Headers kept in the payload by default, per preset (when ``keep_headers`` is unset)."""
_HEADER_NAME: Final = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_NEVER_KEPT: Final = frozenset({"authorization", "cookie", "proxy-authorization"})


def generate_secret(preset: WebhookPreset) -> SecretStr:
    """A fresh secret in the form ``preset`` expects (``whsec_...`` for Standard Webhooks)."""
    if preset is WebhookPreset.STANDARD:
        return SecretStr(generate_standard_secret())
    return SecretStr(secrets.token_urlsafe(32))


def _header_name(value: str, field: str) -> str:
    name = value.strip().lower()
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{field}: {value[:64]!r} is not an HTTP header name")
    return name


class WebhookSettings(BaseModel):
    """Everything that defines a webhook except its secrets: what the API shows and takes."""

    # hide_input_in_errors: a validation error would otherwise quote the raw input.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    slug: str = Field(
        pattern=SLUG_PATTERN,
        description="URL and event-name token: lower-case letters, digits and '-', 1-64 long.",
    )
    preset: WebhookPreset = Field(
        description="How requests are verified: github, stripe, slack, standard, "
        "shared-secret, or none (explicitly unauthenticated)."
    )
    secret_header: str = Field(
        default="x-webhook-secret", description="For shared-secret: the header holding it."
    )
    delivery_id_header: str | None = Field(
        default=None,
        description="A header whose value identifies a delivery, replacing the preset's id "
        "(gives replay protection to shared-secret and none).",
    )
    tolerance: timedelta = Field(
        default=DEFAULT_TOLERANCE,
        gt=timedelta(0),
        le=timedelta(hours=1),
        description="How far a signed timestamp may be from the server's clock.",
    )
    keep_headers: tuple[str, ...] | None = Field(
        default=None,
        description="Request headers copied into the payload under 'headers'. Unset: the "
        "preset's (x-github-event for github).",
    )
    event_template: dict[str, Any] | None = Field(
        default=None,
        description="Builds the event: a JSON object with 'event', 'resource', 'related' "
        "and/or 'payload' whose strings are Jinja templates over body, headers, query, "
        "webhook, delivery_id and received. Keys left out keep their default.",
    )
    description: str = Field(default="", max_length=1000)

    @field_validator("secret_header", mode="after")
    @classmethod
    def _secret_header(cls, value: str) -> str:
        return _header_name(value, "secret_header")

    @field_validator("delivery_id_header", mode="after")
    @classmethod
    def _delivery_id_header(cls, value: str | None) -> str | None:
        return None if value is None else _header_name(value, "delivery_id_header")

    @field_validator("keep_headers", mode="after")
    @classmethod
    def _keep_headers(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(dict.fromkeys(_header_name(name, "keep_headers") for name in value))
        refused = sorted(_NEVER_KEPT.intersection(names))
        if refused:
            raise ValueError(f"keep_headers: {refused[0]!r} carries credentials; remove it")
        return names

    @field_validator("event_template", mode="after")
    @classmethod
    def _event_template(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - EVENT_TEMPLATE_KEYS)
        if unknown:
            raise ValueError(
                f"event_template: unknown key {unknown[0]!r}; use {sorted(EVENT_TEMPLATE_KEYS)}"
            )
        try:
            compile_structure(value, field="event_template")
        except TemplateError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def event_name(self) -> str:
        """The default event name, ``webhook.<slug>``."""
        return f"webhook.{self.slug}"


class Webhook(WebhookSettings):
    """An inbound endpoint, ``POST /hooks/{slug}``, that turns verified requests into events."""

    secret: SecretStr | None = Field(
        default=None,
        description="The signing secret (or the shared secret); 'whsec_<base64>' for standard.",
    )
    previous_secret: SecretStr | None = Field(
        default=None,
        description="Still accepted during a rotation, until the sender uses the new secret.",
    )

    _template: TemplateStructure | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _secrets_fit_the_preset(self) -> Webhook:
        if self.preset is WebhookPreset.NONE:
            if self.secret is not None or self.previous_secret is not None:
                raise ValueError("secret: preset 'none' takes no secret; choose a preset")
            return self
        if self.secret is None:
            raise ValueError(
                f"secret: preset {self.preset.value!r} needs a secret (see generate_secret)"
            )
        if self.preset is WebhookPreset.STANDARD:
            for field, secret in (
                ("secret", self.secret),
                ("previous_secret", self.previous_secret),
            ):
                if secret is None:
                    continue
                try:
                    parse_standard_secret(secret.get_secret_value())
                except ValueError as error:
                    raise ValueError(f"{field}: {error}") from None
        if self.preset is WebhookPreset.SHARED_SECRET and self.secret_header in (
            self.keep_headers or ()
        ):
            raise ValueError("keep_headers: it holds secret_header, which carries the secret")
        return self

    def model_post_init(self, context: Any, /) -> None:
        if self.event_template is not None:
            self._template = compile_structure(self.event_template, field="event_template")

    @property
    def secrets(self) -> tuple[SecretStr, ...]:
        """The secrets a request may be signed with: the current one, then the previous."""
        return tuple(s for s in (self.secret, self.previous_secret) if s is not None)

    @property
    def kept_headers(self) -> tuple[str, ...]:
        """The headers copied into the default payload."""
        if self.keep_headers is not None:
            return self.keep_headers
        return PRESET_HEADERS.get(self.preset, ())

    @property
    def template(self) -> TemplateStructure | None:
        """The compiled ``event_template`` (compiled once, when the model was made)."""
        return self._template

    def rotated(self, new_secret: SecretStr | None = None) -> Webhook:
        """A copy with a new secret, keeping the current one as ``previous_secret``."""
        if self.preset is WebhookPreset.NONE:
            raise ConfigurationError(
                f"webhook {self.slug!r} uses preset 'none': it has no secret to rotate",
                setting="preset",
            )
        fresh = new_secret or generate_secret(self.preset)
        fields = {**self.model_dump(), "secret": fresh, "previous_secret": self.secret}
        return type(self).model_validate(fields)
