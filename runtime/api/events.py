"""``/api/events``: the live event stream (Server-Sent Events) with the trigger filter language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import Field

from proctor.events.bus.base import EventBus
from proctor.events.labels import ResourceSpecification
from proctor.events.model import Event
from proctor.events.names import compile_filter
from proctor.runtime.store import EventFilter, Page, Store

__all__ = ("EventQuery", "events_router")


class EventQuery(EventFilter):
    """An event filter plus paging, as query parameters."""

    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")
    page_token: str | None = Field(default=None, description="`next_page` of the last page.")


_KEEPALIVE_S = 15.0


def events_router(bus: EventBus, store: Store) -> APIRouter:
    router = APIRouter(prefix="/events", tags=["events"])

    @router.get("", summary="Stored events, filtered and paginated (newest first by default)")
    async def query(query: Annotated[EventQuery, Query()]) -> Page[Event]:
        where = EventFilter.model_validate(query.model_dump(exclude={"limit", "page_token"}))
        return await store.events.query(where, limit=query.limit, page_token=query.page_token)

    @router.post("", status_code=201, summary="Publish an event; answers once it is stored")
    async def publish(event: Event) -> dict[str, object]:
        receipt = await bus.publish(event)
        return {"id": str(event.id), "sequence": receipt.sequence, "duplicate": receipt.duplicate}

    @router.get(
        "/stream",
        summary="Live events as Server-Sent Events",
        response_class=StreamingResponse,
    )
    async def stream(
        name: Annotated[
            list[str] | None, Query(description="Name filters: a.b, a.*, a.>, a.Fail*")
        ] = None,
        resource_id: Annotated[
            str | None, Query(description="Only events about this resource id (prefix* ok)")
        ] = None,
    ) -> StreamingResponse:
        filters = [compile_filter(n) for n in name or []]  # bad filters: 400 before streaming
        spec = ResourceSpecification({"proctor.resource.id": resource_id}) if resource_id else None
        subscription = await bus.subscribe(*filters)

        async def body() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        event = await subscription.next(_KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if spec is None or spec.matches(event.resource):
                        data = event.model_dump_json()
                        yield f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n"
            finally:
                await subscription.close()

        return StreamingResponse(body(), media_type="text/event-stream")

    return router
