"""A tiny scripted HTTP/1.1 server on 127.0.0.1 (a fake Slack, a webhook receiver).

It answers each request with the next scripted ``Reply`` (then the default), records every
request, and signals arrivals on a queue so tests wait on them instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

_PHRASES = {200: "OK", 307: "Temporary Redirect", 404: "Not Found", 429: "Too Many Requests"}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float | None = None


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (timeouts)


class FakeHttpServer:
    def __init__(self, *replies: Reply, clock: Callable[[], float] | None = None) -> None:
        self.script = list(replies)
        self.default = Reply()
        self.received: list[Received] = []
        self.arrivals: asyncio.Queue[Received] = asyncio.Queue()
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._hung: asyncio.Event = asyncio.Event()
        self.port = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> FakeHttpServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._hung.set()
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def next_request(self) -> Received:
        async with asyncio.timeout(5):
            return await self.arrivals.get()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            at = self._clock() if self._clock else None
            request = Received(method, path, headers, body, at)
            self.received.append(request)
            self.arrivals.put_nowait(request)
            reply = self.script.pop(0) if self.script else self.default
            if reply.hang:
                await self._hung.wait()
                return
            phrase = _PHRASES.get(reply.status, "Status")
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            writer.write(
                f"HTTP/1.1 {reply.status} {phrase}\r\nContent-Length: {len(reply.body)}\r\n"
                f"Connection: close\r\n{extra}\r\n".encode()
                + reply.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
