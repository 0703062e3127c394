"""One subscription's messages read straight off a nats-py connection (nats-py is pinned).

For a subscription that gets many small messages (JetStream's acknowledgements of a pipelined
publish), nats-py's way is costly per message: its parser matches each control line with a
regular expression, copies the payload out of its buffer and awaits the client, which makes a
``Msg``, queues it and wakes the subscription's task, which awaits the callback.
``read_directly(nc, sid, handle)`` gives each message for subscription ``sid`` to
``handle(subject, data, no_responders)`` at once instead:

- a run of plain ``MSG <subject> <sid> <size>`` messages at the start of what the connection
  read is taken before nats-py's parser sees it (a message cut off by the end of the read
  waits in the parser's buffer for the next read);
- a message for ``sid`` that the parser reads itself (one with headers, or one that follows
  another kind of message) is taken where the parser hands it to the client
  (``Client._process_msg``);
- everything else goes to nats-py unchanged, in order.

It returns a function that gives the connection back as it was.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.protocol.parser import AWAITING_CONTROL_LINE, MAX_CONTROL_LINE_SIZE

__all__ = ("Handler", "read_directly")

Handler = Callable[[bytes, bytes, bool], None]
"""``handle(subject, data, no_responders)``: a message for the subscription."""

_NO_RESPONDERS_HEAD = b"NATS/1.0 503"


def read_directly(nc: NatsClient, sid: int, handle: Handler) -> Callable[[], None]:
    """Give subscription ``sid``'s messages to ``handle`` as ``nc`` reads them; returns the
    function that stops it."""
    parser = nc._ps
    parse = parser.parse
    process_msg = nc._process_msg
    stats = nc.stats
    sid_text = b"%d" % sid

    async def take(msg_sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        if msg_sid != sid:
            return await process_msg(msg_sid, subject, reply, data, headers)
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handle(subject, data, bool(headers) and headers.startswith(_NO_RESPONDERS_HEAD))
        return None

    async def parse_taking(data: bytes = b"") -> None:
        if parser.state != AWAITING_CONTROL_LINE:  # in the middle of a message
            await parse(data)
            return
        if parser.buf:  # what the last read cut off
            data = bytes(parser.buf) + data
            del parser.buf[:]
        at, size = 0, len(data)
        while at < size and data.startswith(b"MSG ", at):
            line_end = data.find(b"\r\n", at)
            if line_end < 0:
                if size - at >= MAX_CONTROL_LINE_SIZE:
                    break  # nats-py's parser refuses it
                parser.buf.extend(data[at:])
                return
            fields = data[at + 4 : line_end].split()
            if len(fields) != 3 or fields[1] != sid_text or not fields[2].isdigit():
                break  # another subscription's message, one with a reply subject, or unfit
            end = line_end + 2 + int(fields[2])
            if end + 2 > size:
                parser.buf.extend(data[at:])
                return
            body = data[line_end + 2 : end]
            stats["in_msgs"] += 1
            stats["in_bytes"] += len(body)
            handle(fields[0], body, False)
            at = end + 2
        if at < size:
            await parse(data[at:] if at else data)

    nc._process_msg = take  # type: ignore[method-assign, assignment]
    parser.parse = parse_taking  # type: ignore[method-assign]

    def stop() -> None:
        if nc._process_msg is take:
            nc._process_msg = process_msg  # type: ignore[method-assign]
        if parser.parse is parse_taking:
            parser.parse = parse  # type: ignore[method-assign]

    return stop
