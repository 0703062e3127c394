"""The API server sends a response's head and body in one write (uvicorn writes them apart)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from proctor.runtime.api.serve import ApiServer, _HeadWithBody


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


HEAD = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n"


async def test_a_head_goes_out_with_the_body_written_after_it() -> None:
    transport = RecordingTransport()
    writes = _HeadWithBody(transport)
    writes.write(HEAD)
    writes.write(b"{}")
    assert transport.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # allow-sleep: the loop's turn finds nothing left to send
    assert transport.writes == [HEAD + b"{}"]


async def test_a_head_alone_goes_out_at_the_next_turn_or_on_close() -> None:
    transport = RecordingTransport()
    writes = _HeadWithBody(transport)
    writes.write(HEAD)
    assert transport.writes == []
    await asyncio.sleep(0)  # allow-sleep: one turn of the loop is what is tested
    assert transport.writes == [HEAD]
    writes.write(b"chunk")
    writes.write(HEAD)
    writes.close()
    assert transport.writes == [HEAD, b"chunk", HEAD]
    assert transport.closed
    assert writes.is_closing()  # everything else is the transport's


async def test_keep_alive_responses_arrive_whole_one_after_another() -> None:
    app = FastAPI()

    @app.get("/n/{n}")
    def number(n: int) -> dict[str, int]:
        return {"n": n}

    server = ApiServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        for n in range(3):
            writer.write(f"GET /n/{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert await asyncio.wait_for(reader.readexactly(length), 5) == b'{"n":%d}' % n
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
