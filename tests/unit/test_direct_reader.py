"""Reading a subscription straight off the connection: every message once, in order, however
the connection's reads cut the stream."""

from __future__ import annotations

from typing import Any

import pytest
from nats.protocol.parser import Parser

from proctor.events.bus.direct_reader import read_directly

ACKS = 7
OTHER = 3


class Connection:
    """What ``read_directly`` uses of a nats-py client, with nats-py's real parser."""

    def __init__(self) -> None:
        self.stats = {"in_msgs": 0, "in_bytes": 0}
        self.passed: list[Any] = []  # what reached the client the usual way
        self._ps = Parser(self)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        self.passed.append((sid, subject, reply, data, headers))

    async def _process_ping(self) -> None:
        self.passed.append("PING")

    async def _process_pong(self) -> None:
        self.passed.append("PONG")


def ack(n: int) -> bytes:
    body = b'{"stream":"s","seq":%d}' % n
    return b"MSG _INBOX.x.0.%d %d %d\r\n%s\r\n" % (n, ACKS, len(body), body)


STREAM = b"".join(
    [
        ack(0),
        ack(1),
        b"MSG other.subject %d reply.to 5\r\nhello\r\n" % OTHER,
        ack(2),
        b"HMSG _INBOX.x.0.3 %d 16 16\r\nNATS/1.0 503\r\n\r\n\r\n" % ACKS,  # no responders
        b"PING\r\n",
        ack(4),
        b"MSG _INBOX.x.0.5 %d 0\r\n\r\n" % ACKS,  # an empty body
        b"MSG other.subject %d 2\r\nhi\r\n" % OTHER,
        *[ack(n) for n in range(6, 40)],
    ]
)
EXPECTED_TAKEN = [
    *[(b"_INBOX.x.0.%d" % n, b'{"stream":"s","seq":%d}' % n, False) for n in (0, 1, 2)],
    (b"_INBOX.x.0.3", b"", True),
    (b"_INBOX.x.0.4", b'{"stream":"s","seq":4}', False),
    (b"_INBOX.x.0.5", b"", False),
    *[(b"_INBOX.x.0.%d" % n, b'{"stream":"s","seq":%d}' % n, False) for n in range(6, 40)],
]
EXPECTED_PASSED = [
    (OTHER, b"other.subject", b"reply.to", b"hello", None),
    "PING",
    (OTHER, b"other.subject", b"", b"hi", None),
]


async def read(chunks: list[bytes]) -> tuple[list[Any], Connection]:
    connection = Connection()
    taken: list[Any] = []
    read_directly(connection, ACKS, taken.extend)  # type: ignore[arg-type]
    for chunk in chunks:
        await connection._ps.parse(chunk)
    return taken, connection


@pytest.mark.parametrize("cut", range(0, len(STREAM), 7))
async def test_a_stream_cut_anywhere_is_read_whole(cut: int) -> None:
    taken, connection = await read([STREAM[:cut], STREAM[cut:]])
    assert taken == EXPECTED_TAKEN
    assert connection.passed == EXPECTED_PASSED
    assert connection.stats["in_msgs"] == len(EXPECTED_TAKEN)


async def test_a_stream_read_a_byte_at_a_time_is_read_whole() -> None:
    taken, connection = await read([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert (taken, connection.passed) == (EXPECTED_TAKEN, EXPECTED_PASSED)


async def test_stopping_gives_every_message_back_to_nats_py() -> None:
    connection = Connection()
    stop = read_directly(connection, ACKS, lambda messages: None)  # type: ignore[arg-type]
    await connection._ps.parse(STREAM[:10])  # a cut-off ack waits in the parser's buffer
    stop()
    await connection._ps.parse(STREAM[10:])
    assert len(connection.passed) == len(EXPECTED_TAKEN) + len(EXPECTED_PASSED)
    assert connection.passed[0] == (ACKS, b"_INBOX.x.0.0", b"", b'{"stream":"s","seq":0}', None)
