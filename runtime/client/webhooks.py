"""``client.webhooks``: create, list, read, rotate the secret of, and delete inbound webhooks."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from proctor.runtime.client.base import ApiTransport
from proctor.runtime.store import Page
from proctor.runtime.webhooks.records import (
    DEFAULT_ROTATION_GRACE,
    DeliveryRecord,
    RotateSecret,
    WebhookApplied,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
)

__all__ = ("WebhooksClient",)


def _path(slug: str) -> str:
    return f"/api/webhooks/{quote(slug, safe='')}"


def _body(spec: WebhookCreate) -> dict[str, Any]:
    body = spec.model_dump(mode="json", exclude={"secret"})
    if spec.secret is not None:
        body["secret"] = spec.secret.get_secret_value()
    return body


class WebhooksClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def create(self, spec: WebhookCreate | None = None, **fields: Any) -> WebhookCreated:
        """Create a webhook from ``spec`` (or ``WebhookCreate`` fields: ``slug=``, ``preset=``...).
        ``.secret`` holds the generated secret: it is shown this once."""
        spec = spec or WebhookCreate.model_validate(fields)
        answer = await self._transport.request("POST", "/api/webhooks", json=_body(spec))
        return WebhookCreated.model_validate(answer)

    async def apply(self, spec: WebhookCreate) -> WebhookApplied:
        """Create ``spec.slug`` or update its settings in place (secrets kept unless
        ``spec.secret`` is given). A generated secret is in ``.secret``, this once."""
        answer = await self._transport.request("PUT", _path(spec.slug), json=_body(spec))
        return WebhookApplied.model_validate(answer)

    async def list(self, *, limit: int = 100, page_token: str | None = None) -> Page[WebhookInfo]:
        params = {"limit": limit, "page_token": page_token}
        answer = await self._transport.request("GET", "/api/webhooks", params=params)
        return Page[WebhookInfo].model_validate(answer)

    async def read(self, slug: str) -> WebhookInfo:
        answer = await self._transport.request("GET", _path(slug))
        return WebhookInfo.model_validate(answer)

    async def rotate_secret(
        self,
        slug: str,
        *,
        secret: str | SecretStr | None = None,
        grace: timedelta = DEFAULT_ROTATION_GRACE,
    ) -> WebhookCreated:
        """Give ``slug`` a new secret (generated unless given); the current one keeps working
        for ``grace``."""
        new = SecretStr(secret) if isinstance(secret, str) else secret
        rotation = RotateSecret(secret=new, grace=grace)
        body: dict[str, Any] = {"grace": rotation.grace.total_seconds()}
        if rotation.secret is not None:
            body["secret"] = rotation.secret.get_secret_value()
        path = f"{_path(slug)}/rotate-secret"
        answer = await self._transport.request("POST", path, json=body)
        return WebhookCreated.model_validate(answer)

    async def delete(self, slug: str) -> None:
        await self._transport.request("DELETE", _path(slug))

    async def deliveries(self, slug: str, *, limit: int = 20) -> builtins.list[DeliveryRecord]:
        """The last ``limit`` requests to ``slug``, accepted and refused, newest first."""
        path = f"{_path(slug)}/deliveries"
        answer = await self._transport.request("GET", path, params={"limit": limit})
        return [DeliveryRecord.model_validate(item) for item in answer]
