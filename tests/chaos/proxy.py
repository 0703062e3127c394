"""A TCP fault proxy for chaos tests: put it between a client and a server, then hurt the link.

``async with FaultProxy(server_port) as proxy:`` connect the client to ``proxy.port``; then
``proxy.latency_s = 0.05`` (each byte arrives that much later, both ways),
``proxy.reset()`` (every connection gets a TCP RST), ``proxy.drop()`` (a clean FIN), or
``proxy.pause()`` / ``proxy.resume()`` (a blackhole: nothing flows, nothing is lost — like a
network partition that heals; new connections are accepted but not forwarded meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Self

__all__ = ("FaultProxy",)

_CHUNK = 64 * 1024


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (linger 0), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and its upstream connection."""

    def __init__(
        self,
        proxy: FaultProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.closed = False
        self.writers = (client[1], upstream[1])
        self.directions = (
            self._direction(client[0], upstream[1]),
            self._direction(upstream[0], client[1]),
        )

    def _direction(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> asyncio.Future[tuple[None, None]]:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        return asyncio.gather(self._read(source, queue), self._write(queue, sink))

    async def _read(
        self, source: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.proxy._flowing.wait()
            data = await source.read(_CHUNK)
            queue.put_nowait((loop.time() + self.proxy.latency_s, data))
            if not data:
                return

    async def _write(
        self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            if (wait_s := due - loop.time()) > 0:
                await asyncio.sleep(wait_s)  # allow-sleep: the latency this proxy injects
            await self.proxy._flowing.wait()
            if not data:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(data)
            await sink.drain()

    async def run(self) -> None:
        """Forward both ways until both ends are finished; reset both on any error."""
        try:
            await asyncio.gather(*self.directions)
        except (OSError, asyncio.CancelledError):
            self.close(reset=True)  # a no-op when the proxy cut the link itself
        else:
            self.close(reset=False)

    def close(self, *, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for direction in self.directions:
            direction.cancel()
        for writer in self.writers:
            if reset:
                _abort(writer)
            else:
                writer.close()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` (free when 0) to ``target_host:target_port``, with faults."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.latency_s = 0.0
        """Added to every chunk, in each direction (a round trip gets twice this)."""
        self.accepted = 0
        """Connections accepted so far."""
        self._port = port
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._accepting = asyncio.Condition()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started: `await proxy.start()` first")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """Connections being forwarded now."""
        return len(self._links)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)

    async def wait_accepted(self, count: int) -> None:
        """Wait until ``count`` connections in all have been accepted (a client reconnected)."""
        async with self._accepting:
            await self._accepting.wait_for(lambda: self.accepted >= count)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._accepting:
            self.accepted += 1
            self._accepting.notify_all()
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._flowing.wait()  # a paused proxy accepts but does not forward
            upstream = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            _abort(writer)
            self._handlers.discard(handler)
            return
        link = _Link(self, (reader, writer), upstream)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            self._handlers.discard(handler)

    def reset(self) -> int:
        """Cut every connection with a TCP RST; return how many were cut."""
        return self._cut(reset=True)

    def drop(self) -> int:
        """Close every connection cleanly (FIN); return how many were closed."""
        return self._cut(reset=False)

    def _cut(self, *, reset: bool) -> int:
        links, self._links = self._links, set()
        for link in links:
            link.close(reset=reset)
        return len(links)

    def pause(self) -> None:
        """Blackhole: stop forwarding (bytes wait in the socket buffers, nothing is lost)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, starting with whatever waited during the pause."""
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        if self._server is not None:
            self._server.close()
            for handler in list(self._handlers):
                handler.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
