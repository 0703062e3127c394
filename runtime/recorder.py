"""The recorder: projects the event stream into the store, a batch at a time, idempotently
(and, opened with ``Recorder.open_logs``, the run logs stream into ``store.logs``).

It reads through a durable consumer (``naming.consumer("recorder")``), writes each batch in
one transaction and acknowledges the batch only after the commit, so a crash at any point
loses nothing: the unacknowledged batch comes again and recording it twice changes nothing.

Poison never blocks the stream: undecodable bytes and malformed run state payloads become
dead letters within their batch; a batch the database refuses is split until the refused
message is alone, and that one is dead-lettered. Each new dead letter is logged and reported
as a ``proctor.recorder.dead-lettered`` event. An unreachable database is waited out (the
batch is kept, its ack deadline extended), never dead-lettered.

Its consumer's ``ack_wait`` is short (``RECORDER_ACK_WAIT``): what a recorder that died had
fetched comes to a living one seconds later, while a living one keeps what it holds for as
long as it needs (``Holding`` tells JetStream it is still working on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.exc import StatementError

from proctor.core.errors import BusError, ProctorError, StoreUnavailableError
from proctor.events.bus.base import EventBus
from proctor.events.bus.consumer import (
    ConsumerOptions,
    Delivery,
    DurableConsumer,
    JetStreamDurableConsumer,
)
from proctor.events.bus.holding import Holding
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.events.model import Event, utcnow
from proctor.events.names import compile_filter
from proctor.runtime.engine.logs import RunLog
from proctor.runtime.metrics import count_log_lines, count_recorded
from proctor.runtime.store.projection import UNDECODABLE, UNPROJECTABLE, Projection
from proctor.runtime.store.records import RunLogRecord
from proctor.runtime.store.store import Store

__all__ = (
    "DEAD_LETTERED",
    "RECORDER_ACK_WAIT",
    "SLICE_S",
    "Recorder",
    "RecorderOptions",
    "RecorderStats",
)

log = logging.getLogger(__name__)

DEAD_LETTERED = "proctor.recorder.dead-lettered"
"""Name of the event reporting a message the recorder dead-lettered."""

SLICE_S = 0.0005
"""Longest stretch of projecting before the event loop gets a turn. A webhook request takes
several turns (read, replay claim, publish, acknowledgement, answer) and waits out a slice at
each: at 2 ms, a batch being projected added 15-20 ms to those in flight."""

RECORDER_ACK_WAIT = timedelta(seconds=5)
"""How long a batch a recorder fetched and stopped refreshing (it died) waits before it is
delivered again (it was 30 s: a server killed mid-load had its last events queryable only
half a minute after its restart)."""
_TOP_UP_TIMEOUT_S = 0.01


@dataclass(frozen=True, slots=True)
class RecorderOptions:
    """How the recorder batches and retries."""

    batch_size: int = 1000
    fetch_timeout_s: float = 1.0
    consumer: ConsumerOptions = field(
        default_factory=lambda: ConsumerOptions(ack_wait=RECORDER_ACK_WAIT, max_deliver=20)
    )
    batch_linger_s: float = 0.05
    """How long a batch smaller than ``batch_size`` waits for more events before it is
    recorded: each batch costs about 2 ms of CPU (its transaction, acks, round trips), so a
    steady trickle recorded as it comes costs several times more per event."""
    retry_delay_s: float = 0.2
    """First pause after a failure (fetching, or reaching the database); doubles up to 5 s."""


@dataclass(slots=True)
class RecorderStats:
    """What the recorder has done since it started."""

    messages: int = 0
    batches: int = 0
    dead_letters: int = 0
    recorded_through: int = 0
    """Highest stream sequence whose batch is committed."""
    busy_s: float = 0.0
    """Time spent projecting and writing batches."""


class Recorder:
    """Consumes events through ``consumer`` and records them in ``store``.

    ``await recorder.start()`` runs it in the background; ``await recorder.stop()`` finishes
    the batch in hand and stops. ``await recorder.wait_recorded(sequence)`` returns once
    every event up to that stream sequence is queryable.
    """

    def __init__(
        self,
        store: Store,
        consumer: DurableConsumer,
        *,
        reporter: EventBus | None = None,
        options: RecorderOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
        project: Callable[[Projection, int, str, bytes], None] = Projection.add,
        count: Callable[[Sequence[Delivery]], None] = count_recorded,
    ) -> None:
        self.store = store
        self._add = project
        self._count = count
        self.consumer = consumer
        self._held = Holding(consumer)
        self.options = options or RecorderOptions()
        self.stats = RecorderStats()
        self._reporter = reporter
        self._clock = clock
        self._stopping = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        bus: EventBus,
        store: Store,
        *,
        purpose: str = "recorder",
        options: RecorderOptions | None = None,
        report: bool = True,
    ) -> Recorder:
        """A recorder on the durable consumer ``purpose`` of ``bus`` (all events)."""
        options = options or RecorderOptions()
        consumer = await bus.durable_consumer(purpose, options=options.consumer)
        return cls(store, consumer, reporter=bus if report else None, options=options)

    @classmethod
    async def open_logs(
        cls,
        bus: JetStreamEventBus,
        store: Store,
        *,
        purpose: str = "log-recorder",
        options: RecorderOptions | None = None,
    ) -> Recorder:
        """A recorder of the run logs stream (declared by ``ensure_logs_stream``) into
        ``store.logs``, on the durable consumer ``purpose``."""
        options = options or RecorderOptions()
        naming = bus.naming
        consumer = JetStreamDurableConsumer(
            bus.nc,
            bus.js,
            naming.logs_stream,
            naming.logs_prefix,
            naming.consumer(purpose),
            (compile_filter(">"),),
            options.consumer,
        )
        await consumer.open()
        return cls(
            store,
            consumer,
            reporter=bus,
            options=options,
            project=_project_log,
            count=count_log_lines,
        )

    async def start(self) -> None:
        """Run in the background until ``stop()``."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"recorder {self.consumer.name}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop and close the consumer. Safe to call twice."""
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
        await self.consumer.close()

    async def wait_recorded(self, sequence: int, timeout_s: float = 30.0) -> None:
        """Return once every event up to stream ``sequence`` is recorded (``TimeoutError``
        after ``timeout_s``)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: self.stats.recorded_through >= sequence),
                timeout_s,
            )

    async def run(self) -> None:
        """Record until stopped. Failures are logged and retried; they never end the loop."""
        keeping = asyncio.create_task(self._held.keep(), name=f"keep {self.consumer.name}")
        try:
            await self._record_until_stopped()
        finally:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping

    async def _record_until_stopped(self) -> None:
        delay = self.options.retry_delay_s
        while not self._stopping.is_set():
            try:
                deliveries = await self._fetch()
                try:
                    if deliveries:
                        await self.record(deliveries)
                finally:  # acknowledged, handed back, or left to ack_wait
                    self._held.release(deliveries)
                delay = self.options.retry_delay_s
            except asyncio.CancelledError:
                raise
            except Exception as error:  # never let one failure end the recorder
                log.warning("recorder: %s; retrying in %.1f s", _describe(error), delay)
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    async def _fetch(self) -> list[Delivery]:
        """The next batch (a partial one topped up after ``batch_linger_s``), or ``[]`` when
        stopping (an interrupted fetch loses nothing: what it had received comes again after
        ``ack_wait``)."""
        size, linger = self.options.batch_size, self.options.batch_linger_s
        batch = await self._fetch_some(size, self.options.fetch_timeout_s)
        if batch and len(batch) < size and linger > 0:
            await self._pause(linger)
            if not self._stopping.is_set():
                with contextlib.suppress(BusError):  # if so, the next fetch will say it
                    batch += await self._fetch_some(size - len(batch), _TOP_UP_TIMEOUT_S)
        return batch

    async def _fetch_some(self, count: int, timeout_s: float) -> list[Delivery]:
        fetch = asyncio.ensure_future(self.consumer.fetch(count, timeout_s=timeout_s))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((fetch, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, ProctorError):
                await fetch
            return []
        batch = fetch.result()
        self._held.hold(batch)
        return batch

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _projection(self) -> Projection:
        return Projection(consumer=self.consumer.name, now=self._clock())

    async def _project(self, deliveries: Sequence[Delivery]) -> Projection:
        """What ``deliveries`` project to. Projecting turns bad input into dead letters; a
        message whose projection fails all the same (a bug) is dead-lettered too (with
        whatever rows it projected before failing), so that it cannot hold up the stream.

        Decoding a batch takes tens of milliseconds; the loop it shares with the API and the
        webhooks gets a turn every ``SLICE_S`` (messages are still projected in order)."""
        projection = self._projection()
        add, clock = self._add, time.perf_counter
        turn = clock() + SLICE_S
        for delivery in deliveries:
            sequence, name, data = delivery.sequence, delivery.event_name, delivery.data
            try:
                add(projection, sequence, name, data)
            except Exception as error:
                log.exception("recorder: projecting stream message %s failed", sequence)
                projection.dead_letter(sequence, name, data, UNPROJECTABLE, _describe(error))
            if clock() >= turn:
                await asyncio.sleep(0)
                turn = clock() + SLICE_S
        return projection

    async def record(self, deliveries: Sequence[Delivery]) -> None:
        """Record one batch, acknowledge it, and report its new dead letters."""
        started = time.perf_counter()
        projection = await self._project(deliveries)
        try:
            written = await self._write(projection, deliveries)
        except StoreUnavailableError:
            return  # stopping while the database is away: the batch comes again
        except StatementError as error:  # the database refused some row: find which
            log.warning("recorder: a batch of %d was refused (%s)", len(deliveries), error)
            written = await self._isolate(deliveries)
        except Exception:
            if not any(d.is_last_attempt for d in deliveries):
                with contextlib.suppress(ProctorError):  # try again soon, up to max_deliver
                    delay = timedelta(seconds=self.options.retry_delay_s)
                    await self.consumer.nak(deliveries, delay=delay)
                raise
            log.exception("recorder: a batch failed on its last delivery attempt")
            written = await self._isolate(deliveries)
        self.stats.busy_s += time.perf_counter() - started
        try:
            await self.consumer.ack(deliveries)
        except BusError as error:  # they come again; recording them again changes nothing
            log.warning("recorder: acks not confirmed (%s)", error)
        self.stats.messages += len(deliveries)
        self.stats.batches += 1
        self._count(deliveries)
        async with self._progress:
            highest = max(d.sequence for d in deliveries)
            self.stats.recorded_through = max(self.stats.recorded_through, highest)
            self._progress.notify_all()
        await self._report(written)

    async def _write(
        self, projection: Projection, deliveries: Sequence[Delivery]
    ) -> list[dict[str, object]]:
        """Write ``projection``, waiting out an unreachable database; the new dead letters."""
        delay = self.options.retry_delay_s
        while True:
            try:
                new = set(await self.store.record(projection))
            except StoreUnavailableError as error:
                if self._stopping.is_set():
                    raise
                log.warning("recorder: %s; retrying in %.1f s", error, delay)
                await self._pause(delay)  # the batch is held meanwhile (``Holding``)
                delay = min(delay * 2, 5.0)
                continue
            return [row for key, row in projection.dead_letters.items() if key in new]

    async def _isolate(
        self, deliveries: Sequence[Delivery], error: Exception | None = None
    ) -> list[dict[str, object]]:
        """Write the batch in halves until each refused message is alone; dead-letter it."""
        if len(deliveries) == 1:
            delivery = deliveries[0]
            projection = self._projection()
            projection.dead_letter(
                delivery.sequence,
                delivery.event_name,
                delivery.data,
                UNPROJECTABLE,
                _describe(error) if error else "refused by the database",
            )
            return await self._write(projection, deliveries)
        written: list[dict[str, object]] = []
        middle = len(deliveries) // 2
        for part in (deliveries[:middle], deliveries[middle:]):
            try:
                written += await self._write(await self._project(part), part)
            except StoreUnavailableError:
                raise
            except Exception as refused:
                written += await self._isolate(part, refused)
        return written

    async def _report(self, dead_letters: list[dict[str, object]]) -> None:
        for row in dead_letters:
            self.stats.dead_letters += 1
            log.warning(
                "recorder: dead-lettered stream message %s (%s, %s): %s",
                row["stream_sequence"],
                row["event_name"],
                row["reason"],
                row["error"],
            )
            if self._reporter is None:
                continue
            event = Event.build(
                DEAD_LETTERED,
                {ID_LABEL: f"proctor.recorder.{self.consumer.name}", NAME_LABEL: "recorder"},
                related=[{ID_LABEL: f"proctor.dead-letter.{row['id']}", ROLE_LABEL: "dead-letter"}],
                payload={
                    "dead_letter_id": str(row["id"]),
                    "stream_sequence": row["stream_sequence"],
                    "event_name": row["event_name"],
                    "reason": row["reason"],
                    "error": str(row["error"])[:1000],
                },
            )
            try:
                await self._reporter.publish(event)
            except ProctorError as error:
                log.warning("recorder: could not report dead letter %s: %s", row["id"], error)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _project_log(projection: Projection, sequence: int, subject: str, data: bytes) -> None:
    """Project one message of the run logs stream; a bad one becomes a dead letter."""
    try:
        line = RunLog.model_validate_json(data)
        if line.timestamp.tzinfo is None or line.timestamp.utcoffset() is None:
            raise ValueError(f"log line {line.id}: timestamp without a timezone")
        record = RunLogRecord(
            id=line.id,
            flow_run_id=line.flow_run_id,
            task_run_id=line.task_run_id,
            timestamp=line.timestamp,
            level=line.level,
            logger=line.name,
            message=line.message,
        )
    except (ValidationError, ValueError) as error:
        projection.messages += 1
        projection.dead_letter(sequence, subject, data, UNDECODABLE, str(error))
        return
    projection.add_log(record)
