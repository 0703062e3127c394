"""Run the API with uvicorn inside the server's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from proctor.core.errors import ConfigurationError

__all__ = ("ApiServer", "free_port")


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the Proctor server owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """uvicorn serving ``app`` on ``host:port`` (port 0: a free one) until ``stop()``."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = _EmbeddedUvicorn(self._config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; ``ConfigurationError`` if the port is taken."""
        try:
            sock = self._config.bind_socket()
        except SystemExit:  # uvicorn exits the process when it cannot bind
            raise ConfigurationError(
                f"cannot bind the API to {self.host}:{self.port}: the address is in use. "
                "Choose another with --port (or PROCTOR_API_PORT)",
                setting="PROCTOR_API_PORT",
            ) from None
        # uvicorn makes the socket with proto 0; asyncio sets TCP_NODELAY only on sockets whose
        # proto is IPPROTO_TCP, so without this every keep-alive response (headers and body
        # written apart) waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

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
