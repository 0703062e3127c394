"""``/api/webhooks``: create, list, read, rotate the secret of, and delete inbound webhooks, and
list a webhook's recent deliveries. A secret is shown once: in the create or rotate answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from proctor.core.errors import ConflictError
from proctor.runtime.store import Page, Store
from proctor.runtime.webhooks.deliveries import recent_deliveries
from proctor.runtime.webhooks.records import (
    DeliveryRecord,
    RotateSecret,
    WebhookApplied,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
)
from proctor.runtime.webhooks.registry import WebhookRegistry

__all__ = ("webhooks_router",)

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]


def webhooks_router(registry: WebhookRegistry, store: Store) -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    def not_found(slug: str) -> HTTPException:
        return HTTPException(404, f"webhook {slug!r} not found")

    @router.post("", status_code=201, summary="Create a webhook; a generated secret is shown once")
    async def create(spec: WebhookCreate) -> WebhookCreated:
        try:
            return await registry.create(spec)
        except ConflictError:
            raise HTTPException(409, f"a webhook with slug {spec.slug!r} exists already") from None

    @router.put(
        "/{slug}",
        summary="Create or update a webhook by slug (secrets kept unless one is given)",
        response_model=WebhookApplied,
        responses={201: {"model": WebhookApplied, "description": "Created"}},
    )
    async def apply(slug: str, spec: WebhookCreate) -> JSONResponse:
        if spec.slug != slug:
            raise HTTPException(400, f"slug: the body names {spec.slug!r}, the path {slug!r}")
        applied = await registry.apply(spec)
        return JSONResponse(applied.model_dump(mode="json"), 201 if applied.created else 200)

    @router.get("", summary="Webhooks, by slug (no secrets)")
    async def list_webhooks(limit: Limit = 100, page_token: str | None = None) -> Page[WebhookInfo]:
        return await registry.list(limit=limit, page_token=page_token)

    @router.get("/{slug}", summary="One webhook (no secrets)")
    async def read(slug: str) -> WebhookInfo:
        info = await registry.get(slug)
        if info is None:
            raise not_found(slug)
        return info

    @router.post(
        "/{slug}/rotate-secret",
        summary="Replace the secret; the current one stays valid for the grace period",
    )
    async def rotate(slug: str, rotation: RotateSecret | None = None) -> WebhookCreated:
        created = await registry.rotate(slug, rotation or RotateSecret())
        if created is None:
            raise not_found(slug)
        return created

    @router.delete("/{slug}", status_code=204, summary="Delete a webhook")
    async def delete(slug: str) -> Response:
        if not await registry.delete(slug):
            raise not_found(slug)
        return Response(status_code=204)

    @router.get("/{slug}/deliveries", summary="Recent requests, accepted and refused, newest first")
    async def deliveries(slug: str, limit: Limit = 20) -> list[DeliveryRecord]:
        if await registry.get(slug) is None:
            raise not_found(slug)
        return await recent_deliveries(store, slug, limit=limit)

    return router
