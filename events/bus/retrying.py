"""Retrying JetStream calls through the moments it cannot answer: a server restarting, a
cluster electing a leader, a connection reconnecting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors

from proctor.core.errors import BrokerUnavailableError, BusError

__all__ = ("RETRYABLE", "with_retries")

T = TypeVar("T")

RETRYABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)
"""Errors after which the same call may succeed (JetStream dedups what was already done)."""


async def with_retries(
    attempt: Callable[[], Awaitable[T]], what: str, *, deadline_s: float = 30.0
) -> T:
    """Run ``attempt`` until it succeeds, retrying RETRYABLE errors with backoff.

    ``BrokerUnavailableError`` once ``deadline_s`` has passed; ``BusError`` at once when the
    connection is closed for good.
    """
    deadline = time.monotonic() + deadline_s
    delay = 0.05
    while True:
        try:
            return await attempt()
        except RETRYABLE as error:
            if time.monotonic() + delay >= deadline:
                raise BrokerUnavailableError(
                    f"{what}: JetStream did not answer within {deadline_s:g} s "
                    f"({type(error).__name__})"
                ) from None
        except nats.errors.ConnectionClosedError:
            raise BusError(f"{what}: the event bus connection is closed") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
