"""The API server's socket: a taken port is a clear error that leaves nothing open behind."""

from __future__ import annotations

import gc
import socket
import warnings

import httpx
import pytest
from fastapi import FastAPI

from proctor.core.errors import ConfigurationError
from proctor.runtime.api.serve import ApiServer


async def test_a_taken_port_is_a_clear_error_and_leaks_no_socket() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ConfigurationError) as raised:
                await ApiServer(FastAPI(), "127.0.0.1", port).start()
            message = str(raised.value)
            del raised  # its traceback would keep a leaked socket alive past the collection
            gc.collect()
    assert message.startswith(f"cannot bind the API to 127.0.0.1:{port}: the address is in use")
    assert "--port" in message
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_it_serves_on_a_free_port_without_delaying_small_writes() -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    server = ApiServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        assert server.port != 0
        listening = server._server.servers[0].sockets[0]
        assert listening.proto == socket.IPPROTO_TCP  # so asyncio sets TCP_NODELAY
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/ping")).json() == "pong"
    finally:
        await server.stop()
