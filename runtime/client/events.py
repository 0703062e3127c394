"""``client.events``: publish events over HTTP."""

from __future__ import annotations

from typing import Any

from proctor.events.model import Event
from proctor.runtime.client.base import ApiTransport
from proctor.runtime.store import EventFilter, Page

__all__ = ("EventsClient",)


class EventsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def publish(self, event: Event) -> int:
        """Publish ``event`` through the API; returns its stream sequence once stored."""
        answer = await self._transport.request(
            "POST", "/api/events", json=event.model_dump(mode="json")
        )
        return int(answer["sequence"])

    async def query(
        self, where: EventFilter | None = None, *, limit: int = 100, page_token: str | None = None
    ) -> Page[Event]:
        """Stored events matching ``where`` (newest first unless ``where.order`` is asc)."""
        params: dict[str, Any] = where.model_dump(mode="json", exclude_none=True) if where else {}
        params.update(limit=limit, page_token=page_token)
        answer = await self._transport.request("GET", "/api/events", params=params)
        return Page[Event].model_validate(answer)
