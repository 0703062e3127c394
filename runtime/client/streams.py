"""Live events over HTTP: ``/api/events/stream`` (Server-Sent Events), read in the background.

``async with EventStream(transport, names=["proctor.flow-run.>"]) as events:`` returns once the
server has subscribed, so nothing published after that is missed; ``await events.next(5)``
gives the next event or raises ``TimeoutError``; a dropped connection raises ``ApiError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import httpx
from pydantic import ValidationError

from proctor.core.errors import ApiError
from proctor.core.settings import mask_url
from proctor.events.model import Event
from proctor.runtime.client.base import ApiTransport

__all__ = ("EventStream",)

_CLOSED = object()


class EventStream:
    """The live events matching ``names`` (trigger filters) and ``resource_id`` (prefix* ok)."""

    def __init__(
        self,
        transport: ApiTransport,
        *,
        names: Sequence[str] = (),
        resource_id: str | None = None,
    ) -> None:
        self._transport = transport
        self._params: dict[str, str | list[str]] = {"name": list(names)}
        if resource_id is not None:
            self._params["resource_id"] = resource_id
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._response: httpx.Response | None = None
        self._reader: asyncio.Task[None] | None = None
        self._failure: ApiError | None = None

    async def __aenter__(self) -> Self:
        http = self._transport.http
        request = http.build_request("GET", "/api/events/stream", params=self._params)
        try:
            response = await http.send(request, stream=True)
        except httpx.TransportError as error:
            raise ApiError(
                0,
                f"cannot reach the Proctor API at {mask_url(self._transport.base_url)} "
                f"({type(error).__name__}); is the server running?",
            ) from None
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise ApiTransport._error(response)
        self._response = response
        self._reader = asyncio.create_task(self._read(response))
        return self

    async def _read(self, response: httpx.Response) -> None:
        data: list[str] = []
        try:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    with contextlib.suppress(ValidationError):  # not an event: skip it
                        self._queue.put_nowait(Event.model_validate_json("\n".join(data)))
                    data = []
            self._failure = ApiError(0, "the server closed the event stream")
        except httpx.HTTPError as error:
            self._failure = ApiError(0, f"the event stream broke ({type(error).__name__})")
        finally:
            self._queue.put_nowait(_CLOSED)

    async def next(self, timeout_s: float | None = None) -> Event:
        """The next event; ``TimeoutError`` after ``timeout_s``; ``ApiError`` once the stream
        has ended (the server stopped, or the connection broke)."""
        item = await asyncio.wait_for(self._queue.get(), timeout_s)
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later call fails the same way
            assert self._failure is not None
            raise self._failure
        assert isinstance(item, Event)
        return item

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._response is not None:
            await self._response.aclose()
