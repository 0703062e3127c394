"""Run the API with uvicorn inside the server's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator
from typing import Any, Final

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proctor.core.errors import ConfigurationError
from proctor.runtime.api.hooks import HooksFirstApp

__all__ = ("ApiServer", "free_port")


_HEAD_START: Final = b"HTTP/1.1 "
_HEAD_END: Final = b"\r\n\r\n"


class _HeadWithBody:
    """A transport (a proxy of one) that sends a response's head with the body written right
    after it, in one system call: uvicorn writes them apart, which cost the server a second
    send and the client a second wake-up per response. A head written alone goes out at the
    loop's next turn."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""

    def write(self, data: bytes) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        elif data.startswith(_HEAD_START) and data.endswith(_HEAD_END):
            self._head = data
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            if not self._transport.is_closing():
                self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HttpOneWritePerResponse(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through ``_HeadWithBody``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadWithBody(transport))  # type: ignore[arg-type]


class _HooksAhead:
    """ASGI: webhook requests straight to the app's ``WebhookEndpoint``, ahead of the stack
    uvicorn puts around the app (``ProxyHeadersMiddleware``: the client address and scheme a
    trusted proxy forwarded, which the webhook endpoint does not read); the rest through it."""

    __slots__ = ("_app", "_stack")

    def __init__(self, stack: ASGIApp, app: HooksFirstApp) -> None:
        self._stack = stack
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hooks = self._app.hooks
        if hooks is not None and hooks.handles(scope):
            await hooks(scope, receive, send)
        else:
            await self._stack(scope, receive, send)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the Proctor server owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """uvicorn serving ``app`` on ``host:port`` (port 0: a free one) until ``stop()``."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=_HttpOneWritePerResponse,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        if isinstance(app, HooksFirstApp):
            self._config.load()
            self._config.loaded_app = _HooksAhead(self._config.loaded_app, app)
        self._server = _EmbeddedUvicorn(self._config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; ``ConfigurationError`` if the address can't be bound."""
        sock = self._bind()
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    def _bind(self) -> socket.socket:
        """The listening socket, made here rather than by uvicorn: uvicorn's has proto 0, and
        asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets (without it every keep-alive
        response waits ~40 ms for the client's delayed ACK); and uvicorn exits the process,
        leaving its socket open, when it cannot bind."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            reason = "the address is in use" if error.errno == errno.EADDRINUSE else error.strerror
            raise ConfigurationError(
                f"cannot bind the API to {self.host}:{self.port}: {reason}. "
                "Choose another with --port (or PROCTOR_API_PORT)",
                setting="PROCTOR_API_PORT",
            ) from None
        return sock

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for tests that need to know it in advance)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
