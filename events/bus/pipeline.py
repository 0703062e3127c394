"""Pipelined JetStream publishing with cheap acknowledgements.

nats-py's ``publish_async`` makes, per message, a future with a done-callback and a reply
token drawn from ``os.urandom`` (a system call: it releases the GIL, and with the flow engine
busy in another thread each release can cost a thread switch). Here one reply subscription
serves every message: the reply subject is ``<inbox>.<window>.<index>``, an ack fills its
message's slot in a *window* (up to ``WINDOW`` messages), and the window is one future,
resolved by its last ack. Two windows are in flight at once: the next one goes on the wire
while the acks of the previous one come in. Acks are read straight off the connection
(``direct_reader``), without the message object, queue and callback task nats-py makes for a
subscription.

A message not acknowledged within ``attempt_timeout_s`` is sent again with the same
``Nats-Msg-Id`` (JetStream stores it once) until ``deadline_s`` has passed, then
``BrokerUnavailableError``. A refusal that a retry cannot fix is a ``BusError`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from proctor.core.errors import BrokerUnavailableError, BusError
from proctor.events.bus.direct_reader import Message as ReadMessage
from proctor.events.bus.direct_reader import read_directly
from proctor.events.bus.retrying import RETRYABLE

__all__ = ("MSG_ID_HEADER", "WINDOW", "Ack", "Message", "PublishPipeline")

MSG_ID_HEADER = "Nats-Msg-Id"
_EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"
WINDOW = 1000
"""Messages per window: one protocol write and one future; two windows are in flight."""
_RESEND_PAUSE_S = 0.05
_MSG_ID_LINE = f"NATS/1.0\r\n{MSG_ID_HEADER}: ".encode()
_PLAIN_ACK = re.compile(
    rb'\{"stream":"[^"]*",(?:"domain":"[^"]*",)?"seq":(\d+)(,"duplicate":true)?\}'
)
"""A PubAck as nats-server writes it; anything else goes through ``json.loads`` (a name with
an escaped quote too: the fast path fails on it)."""
_plain_ack = _PLAIN_ACK.fullmatch
_plain_acks = re.compile(b"%s(?:\n%s)*" % (_PLAIN_ACK.pattern, _PLAIN_ACK.pattern)).fullmatch
"""Plain PubAcks joined by newlines (a PubAck holds none): a read's acks checked at once."""
_data_of, _no_responders_of = itemgetter(1), itemgetter(2)


class Message(NamedTuple):
    """One message for a stream: subject, body, and the dedup id (``Nats-Msg-Id``), as bytes.
    The pipeline takes any such triple (a plain tuple is cheaper to make)."""

    subject: bytes
    data: bytes
    msg_id: bytes


class Ack(NamedTuple):
    """JetStream's acknowledgement: stored at ``sequence`` (earlier, if ``duplicate``)."""

    sequence: int
    duplicate: bool


_Outcome = bytes | BaseException
"""A message's outcome: the body of JetStream's acknowledgement (read into an ``Ack`` only
when the caller wants one), or why it was not stored."""
_Triple = tuple[bytes, bytes, bytes]


class _Window:
    """Messages sent together; ``done`` resolves when every one has an outcome."""

    __slots__ = ("done", "failed", "indexes", "left", "outcomes")

    def __init__(self, indexes: Sequence[int]) -> None:
        self.indexes = indexes
        self.outcomes: dict[int, _Outcome] = {}
        self.left = len(indexes)
        self.failed = 0  # outcomes that are not acks
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not indexes:
            self.done.set_result(None)

    def settle(self, index: int, outcome: _Outcome) -> None:
        if index in self.outcomes:
            return
        self.outcomes[index] = outcome
        if type(outcome) is not bytes:
            self.failed += 1
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)


def _stop_waiting(window: _Window) -> None:
    if not window.done.done():
        window.done.set_result(None)  # what has no outcome yet is sent again


def _outcome(data: bytes, no_responders: bool = False) -> _Outcome:
    """What JetStream answered (``data``) to a publish (``no_responders``: no stream took it):
    ``data`` itself if it acknowledges the message, else the error."""
    if no_responders:
        return nats.js.errors.NoStreamResponseError()
    if _plain_ack(data) is not None:  # the common case, read without the JSON parser
        return data
    try:
        reply: dict[str, Any] = json.loads(data)
        if "error" in reply:
            nats.js.errors.APIError.from_error(reply["error"])  # raises the error's class
        int(reply["seq"])
        return data
    except nats.js.errors.APIError as error:
        return error
    except (ValueError, KeyError, TypeError) as error:
        return BusError(f"unreadable JetStream acknowledgement: {error}")


def _ack(data: bytes) -> Ack:
    """The ``Ack`` in an acknowledgement's body (one ``_outcome`` accepted)."""
    plain = _plain_ack(data)
    if plain is not None:
        return Ack(int(plain[1]), plain[2] is not None)
    reply: dict[str, Any] = json.loads(data)
    return Ack(int(reply["seq"]), bool(reply.get("duplicate", False)))


_SUBJECTS_KEPT = 1024
"""Subjects a pipeline remembers as checked (events of one name share their subject)."""


def _check(messages: Sequence[_Triple], max_payload: int, subjects: set[bytes]) -> None:
    """Refuse a message NATS could not carry; ``subjects``: ones already found fit.

    The batch is checked as a whole first (each test one pass in C); only a batch that fails
    is gone through message by message, to name the one at fault.
    """
    if not messages:
        return
    batch_subjects, bodies, ids = zip(*messages, strict=True)
    if (
        subjects.issuperset(batch_subjects)
        # One word each (``split`` is the cheapest test: no whitespace, not empty).
        and len(b" ".join(ids).split()) == len(ids)
        and max(map(len, bodies)) <= max_payload
    ):
        return
    for subject, data, msg_id in messages:
        if subject not in subjects:
            if len(subject.split()) != 1:
                raise BusError(f"not a NATS subject: {subject!r}")
            if len(subjects) < _SUBJECTS_KEPT:
                subjects.add(subject)
        if len(msg_id.split()) != 1:
            raise BusError(f"not a NATS message id: {msg_id!r}")
        if len(data) > max_payload:
            raise BusError(
                f"a {len(data)}-byte message is over the server's limit of {max_payload} bytes"
            )


class PublishPipeline:
    """Publishes batches to JetStream streams over one connection, pipelined (see module)."""

    def __init__(
        self, nc: NatsClient, *, attempt_timeout_s: float = 2.0, deadline_s: float = 30.0
    ) -> None:
        self._nc = nc
        self._attempt_timeout_s = attempt_timeout_s
        self._deadline_s = deadline_s
        self._prefix: bytes | None = None
        self._subscription: Any = None
        self._lock = asyncio.Lock()
        self._next_window = 0
        self._windows: dict[int, _Window] = {}
        self._restore: Callable[[], None] | None = None
        self._subjects: set[bytes] = set()

    async def publish(
        self, stream: str, messages: Sequence[_Triple], describe: Callable[[int], str]
    ) -> list[Ack]:
        """Store ``messages`` in ``stream``; acks in the same order.

        ``describe(index)`` names a message in errors, e.g. ``event 'shop.order.created'``.
        """
        return [_ack(body) for body in await self._publish(stream, messages, describe)]

    async def store(
        self, stream: str, messages: Sequence[_Triple], describe: Callable[[int], str]
    ) -> None:
        """``publish`` for a caller that needs no ``Ack``: the acknowledgements are checked,
        not read."""
        await self._publish(stream, messages, describe)

    async def _publish(
        self, stream: str, messages: Sequence[_Triple], describe: Callable[[int], str]
    ) -> list[bytes]:
        _check(messages, self._nc.max_payload, self._subjects)  # none is sent if one is unfit
        acks: list[bytes] = [b""] * len(messages)
        deadline = time.monotonic() + self._deadline_s
        windows: list[int] = []
        try:
            for first in range(0, len(messages), WINDOW):
                indexes = range(first, min(first + WINDOW, len(messages)))
                windows.append(await self._send(stream, messages, indexes))
                if len(windows) > 1:
                    await self._collect(stream, messages, windows[-2], acks, deadline, describe)
            if windows:
                await self._collect(stream, messages, windows[-1], acks, deadline, describe)
        except BaseException:
            for number in windows:  # stop waiting for the acks of a publish given up on
                self._windows.pop(number, None)
            raise
        return acks

    async def _reply_prefix(self) -> bytes:
        if self._prefix is None:
            async with self._lock:
                if self._prefix is None:
                    inbox = self._nc.new_inbox()
                    self._subscription = await self._nc.subscribe(f"{inbox}.*.*")
                    self._restore = read_directly(self._nc, self._subscription._id, self._on_acks)
                    self._prefix = f"{inbox}.".encode()
        return self._prefix

    async def _send(self, stream: str, messages: Sequence[_Triple], indexes: Sequence[int]) -> int:
        """Put messages on the wire as a new window (its number); one that could not be sent
        gets its error as outcome."""
        prefix = await self._reply_prefix()
        nc = self._nc
        if nc.is_closed:
            raise BusError("the event bus connection is closed")
        number = self._next_window
        self._next_window += 1
        window = self._windows[number] = _Window(indexes)
        reply_prefix = prefix + b"%d." % number
        if nc.is_connected and not nc.is_draining:
            try:
                await self._send_framed(stream, messages, indexes, reply_prefix)
            except BaseException:
                del self._windows[number]
                raise
            return number
        # Reconnecting (or draining): nats-py's publish buffers within its limits, or refuses.
        for index in indexes:
            subject, data, msg_id = messages[index]
            headers = {MSG_ID_HEADER: msg_id.decode(), _EXPECTED_STREAM_HEADER: stream}
            reply = (reply_prefix + b"%d" % index).decode()
            try:
                await nc.publish(subject.decode(), data, reply=reply, headers=headers)
            except nats.errors.ConnectionClosedError:
                del self._windows[number]
                raise BusError("the event bus connection is closed") from None
            except RETRYABLE as error:
                window.settle(index, error)
        return number

    async def _send_framed(
        self, stream: str, messages: Sequence[_Triple], indexes: Sequence[int], reply: bytes
    ) -> None:
        """The window's messages framed here as one protocol write (``HPUB`` commands).

        nats-py's ``publish`` costs about 8 us a message (validation, a header dictionary
        encoded per message, one write command each); this is about 1.5 us. It uses nats-py's
        pending buffer the way its ``publish`` does (nats-py is pinned; the JetStream tests
        cover this path).
        """
        nc = self._nc
        tail = b"\r\n" + _EXPECTED_STREAM_HEADER.encode() + b": " + stream.encode() + b"\r\n\r\n"
        fixed = len(_MSG_ID_LINE) + len(tail)
        frames: list[bytes] = []  # the bodies are joined once, not copied into each frame
        size = 0
        for index in indexes:
            subject, data, msg_id = messages[index]
            header_size = fixed + len(msg_id)
            frames += (
                b"HPUB %s %s%d %d %d\r\n%s"
                % (subject, reply, index, header_size, header_size + len(data), _MSG_ID_LINE),
                msg_id,
                tail,
                data,
                b"\r\n",
            )
            size += len(data)
        nc.stats["out_msgs"] += len(indexes)
        nc.stats["out_bytes"] += size
        await nc._send_command(b"".join(frames))
        if nc._flush_queue is not None and nc._flush_queue.empty():  # as nats-py's publish
            await nc._flush_pending()

    def _on_acks(self, acks: list[ReadMessage]) -> None:
        """Settle each ack's message in its window (a read's acks, checked at once)."""
        prefix = self._prefix
        if prefix is None:
            return
        plain = not any(map(_no_responders_of, acks)) and (
            _plain_acks(b"\n".join(map(_data_of, acks))) is not None
        )
        cut, windows = len(prefix), self._windows
        number: bytes | None = None
        window: _Window | None = None
        for subject, data, no_responders in acks:
            at_number, _, index = subject[cut:].partition(b".")
            try:
                if at_number != number:  # a read's acks are mostly of one window
                    number, window = at_number, windows.get(int(at_number))
                if window is not None:  # else: it came after its window was given up on
                    window.settle(int(index), data if plain else _outcome(data, no_responders))
            except ValueError:  # not a reply to one of our messages
                number = window = None

    async def _collect(
        self,
        stream: str,
        messages: Sequence[_Triple],
        number: int,
        acks: list[bytes],
        deadline: float,
        describe: Callable[[int], str],
    ) -> None:
        """Gather a window's acks; send again (same ids) whatever was not acknowledged."""
        last_error: BaseException | None = None
        while True:
            window = self._windows[number]
            try:
                if not window.done.done():
                    await self._wait(window)
            finally:
                self._windows.pop(number, None)
            if window.left == 0 and window.failed == 0:  # every message acknowledged
                for index, body in window.outcomes.items():
                    acks[index] = body  # type: ignore[assignment]
                return
            retry: list[int] = []
            for index in window.indexes:
                outcome = window.outcomes.get(index)
                if isinstance(outcome, bytes):
                    acks[index] = outcome
                elif outcome is None or isinstance(outcome, RETRYABLE):
                    last_error = outcome or TimeoutError()
                    retry.append(index)
                else:
                    raise BusError(f"JetStream refused {describe(index)}: {outcome}") from None
            if not retry:
                return
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"JetStream did not acknowledge within {self._deadline_s:g} s "
                    f"({type(last_error).__name__}); {len(retry)} messages were not "
                    "confirmed stored"
                )
            await asyncio.sleep(_RESEND_PAUSE_S)
            number = await self._send(stream, messages, retry)

    async def _wait(self, window: _Window) -> None:
        """Until every message of ``window`` has an outcome, or ``attempt_timeout_s`` passed.
        A timer and the window's own future: lighter than ``asyncio.wait`` (its waiter future
        and done-callbacks). The future is the caller's alone: cancelled with it, harmlessly."""
        timer = asyncio.get_running_loop().call_later(
            self._attempt_timeout_s, _stop_waiting, window
        )
        try:
            await window.done
        finally:
            timer.cancel()

    async def close(self) -> None:
        """Stop listening for acks (the connection stays open)."""
        subscription, self._subscription, self._prefix = self._subscription, None, None
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()
        if subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
