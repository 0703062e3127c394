"""Where run log lines go: the JetStream logs stream, or a list for the in-memory bus.

Log lines travel apart from events (their own stream, with its own retention). On JetStream
each line is one message on ``<logs_prefix>.<flow run id>`` (the task run id for a task run
outside any flow), ``Nats-Msg-Id`` = log id. If the logs stream does not exist (a server that
did not declare it), log lines are not shipped, with one warning, and runs go on.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from proctor.events.bus.base import EventBus
from proctor.events.bus.memory import InMemoryEventBus
from proctor.runtime.engine.logs import RunLog

if TYPE_CHECKING:
    from proctor.events.bus.jetstream import JetStreamEventBus

__all__ = ("InMemoryLogSink", "JetStreamLogSink", "LogSink", "log_sink_for", "memory_logs")

log = logging.getLogger(__name__)


class LogSink(Protocol):
    async def publish(self, records: Sequence[RunLog]) -> None:
        """Store ``records``; raise ``BrokerUnavailableError`` to have them sent again."""
        ...


class InMemoryLogSink:
    """Keeps log lines in a list (the in-memory bus's logs stream)."""

    def __init__(self) -> None:
        self.records: list[RunLog] = []

    async def publish(self, records: Sequence[RunLog]) -> None:
        self.records.extend(records)


class JetStreamLogSink:
    """Publishes log lines to the logs stream, pipelined, resending unacknowledged ones."""

    def __init__(self, bus: JetStreamEventBus) -> None:
        self._bus = bus
        self._available: bool | None = None

    async def _check(self) -> bool:
        import nats.js.errors

        if self._available is None:
            try:
                await self._bus.js.stream_info(self._bus.naming.logs_stream)
                self._available = True
            except nats.js.errors.NotFoundError:
                log.warning(
                    "NATS has no stream %r: run log lines are not shipped (start the server "
                    "with `proctor server start`, which declares it)",
                    self._bus.naming.logs_stream,
                )
                self._available = False
        return self._available

    async def publish(self, records: Sequence[RunLog]) -> None:
        if not records or not await self._check():
            return
        from proctor.events.bus.pipeline import Message

        prefix = self._bus.naming.logs_prefix
        messages = [
            Message(
                f"{prefix}.{record.flow_run_id or record.task_run_id}".encode(),
                record.model_dump_json().encode(),
                str(record.id).encode(),
            )
            for record in records
        ]
        await self._bus.pipeline.publish(
            self._bus.naming.logs_stream, messages, lambda i: f"log line {records[i].id}"
        )


_memory_sinks: weakref.WeakKeyDictionary[EventBus, InMemoryLogSink] = weakref.WeakKeyDictionary()


def memory_logs(bus: InMemoryEventBus) -> list[RunLog]:
    """The log lines shipped through an in-memory bus (for tests)."""
    return _memory_sinks.setdefault(bus, InMemoryLogSink()).records


def log_sink_for(bus: EventBus) -> LogSink:
    """The sink matching ``bus``: a list for the in-memory bus, the logs stream on JetStream."""
    if isinstance(bus, InMemoryEventBus):
        return _memory_sinks.setdefault(bus, InMemoryLogSink())
    from proctor.events.bus.jetstream import JetStreamEventBus

    if isinstance(bus, JetStreamEventBus):
        return JetStreamLogSink(bus)
    log.warning("run log lines are not shipped on a %s", type(bus).__name__)
    return _NoSink()


class _NoSink:
    async def publish(self, records: Sequence[RunLog]) -> None:
        return None
