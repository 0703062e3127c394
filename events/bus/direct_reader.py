"""One subscription's messages read straight off a nats-py connection (nats-py is pinned).

For a subscription that gets many small messages (JetStream's acknowledgements of a pipelined
publish), nats-py's way is costly per message: its parser matches each control line with a
regular expression, copies the payload out of its buffer and awaits the client, which makes a
``Msg``, queues it and wakes the subscription's task, which awaits the callback.
``read_directly(nc, sid, handle)`` gives the messages for subscription ``sid`` to
``handle([(subject, data, no_responders), ...])`` at once instead, each read's in one list:

- a run of plain ``MSG <subject> <sid> <size>`` messages at the start of what the connection
  read is taken before nats-py's parser sees it, each control line read by one regular
  expression (a message whose body is cut off by the end of the read waits in the parser's
  buffer for the next read; a cut-off control line is left to the parser);
- a message for ``sid`` that the parser reads itself (one with headers, or one that follows
  another kind of message) is taken where the parser hands it to the client, through the
  connection's one raw router (``wire.route``);
- everything else goes to nats-py unchanged, in order.

It returns a function that gives the connection back as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.protocol.parser import AWAITING_CONTROL_LINE

from proctor.events.bus.wire import route, unroute

__all__ = ("Handler", "Message", "read_directly")

Message = tuple[bytes, bytes, bool]
"""A message for the subscription: ``(subject, data, no_responders)``."""
Handler = Callable[[list[Message]], None]
"""``handle(messages)``: messages for the subscription, in the order they came."""

_NO_RESPONDERS_HEAD = b"NATS/1.0 503"


def read_directly(nc: NatsClient, sid: int, handle: Handler) -> Callable[[], None]:
    """Give subscription ``sid``'s messages to ``handle`` as ``nc`` reads them; returns the
    function that stops it."""
    parser = nc._ps
    parse = parser.parse
    stats = nc.stats
    # ``MSG <subject> <sid> <size>``: one subject word, this subscription, no reply subject
    # (nats-server separates them with single spaces; anything else goes to nats-py).
    control_line = re.compile(rb"MSG ([^ ]+) %d (\d+)\r\n" % sid).match

    def parsed(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        handle([(subject, data, headers is not None and headers.startswith(_NO_RESPONDERS_HEAD))])

    async def parse_taking(data: bytes = b"") -> None:
        if parser.state != AWAITING_CONTROL_LINE:  # in the middle of a message
            await parse(data)
            return
        if parser.buf:  # what the last read cut off
            data = bytes(parser.buf) + data
            del parser.buf[:]
        at = taken_bytes = 0
        size = len(data)
        taken: list[Message] = []
        rest: bytes | None = None  # for nats-py's parser
        while (line := control_line(data, at)) is not None:
            start = line.end()
            end = start + int(line[2])
            if end + 2 > size:
                parser.buf.extend(data[at:])
                break
            taken.append((line[1], data[start:end], False))
            taken_bytes += end - start
            at = end + 2
        else:
            if at < size:
                rest = data[at:] if at else data
        if taken:
            stats["in_msgs"] += len(taken)
            stats["in_bytes"] += taken_bytes
            handle(taken)  # before what follows them
        if rest is not None:
            await parse(rest)

    route(nc, sid, parsed)
    parser.parse = parse_taking  # type: ignore[method-assign]

    def stop() -> None:
        unroute(nc, sid)
        if parser.parse is parse_taking:
            parser.parse = parse  # type: ignore[method-assign]

    return stop
