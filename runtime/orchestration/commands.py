"""Commands on runs in flight: request a run, cancel it. Each one is a compare-and-set on the
run's entry followed by the state event it implies, so concurrent commands never both win.

When traced, a run request is a producer span ``proctor.run-request <flow name>``, a child
of the span current where the run was requested (an automation's action, user code); the
run's entry keeps its ``traceparent``, so the run's span continues the trace on a worker.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from opentelemetry.trace import SpanKind

from proctor.core.errors import BrokerUnavailableError
from proctor.core.tracing import current_traceparent, traced, traceparent_of
from proctor.events.model import Event, utcnow
from proctor.runtime.engine.run_spans import deployment_run_attributes
from proctor.runtime.engine.states import Cancelled, Cancelling, Scheduled
from proctor.runtime.orchestration.model import EntryStatus, RunEntry, RunJob, state_event
from proctor.runtime.orchestration.plane import RunPlane
from proctor.runtime.run_events import FlowRunSnapshot

__all__ = ("cancel_run", "submit_run")

log = logging.getLogger(__name__)


async def submit_run(
    plane: RunPlane,
    run: FlowRunSnapshot,
    job: RunJob,
    *,
    scheduled_time: datetime | None = None,
    caused_by: UUID | None = None,
) -> tuple[RunEntry, bool]:
    """Create ``run`` in state Scheduled and queue its request on ``job``'s pool and queue.

    Idempotent by ``run.id``: submitting a run id that exists returns its entry (and whether
    this call created it), finishing an interrupted earlier submission if needed.
    """
    when = scheduled_time or utcnow()
    if when.tzinfo is None:
        raise ValueError("scheduled_time must be timezone-aware")
    attributes = {
        **deployment_run_attributes(run),
        "proctor.work_queue.name": job.work_queue,
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": plane.naming.run_request_subject(
            job.work_pool, job.work_queue
        ),
    }
    name = f"proctor.run-request {run.flow_name}"
    with traced(name, kind=SpanKind.PRODUCER, attributes=attributes) as span:
        traceparent = traceparent_of(span) if span is not None else current_traceparent()
        entry, created = await _submit(plane, run, job, when, caused_by, traceparent)
        if span is not None:
            span.set_attribute("proctor.run_request.created", created)
        return entry, created


async def _submit(
    plane: RunPlane,
    run: FlowRunSnapshot,
    job: RunJob,
    when: datetime,
    caused_by: UUID | None,
    traceparent: str | None,
) -> tuple[RunEntry, bool]:
    run = run.model_copy(update={"expected_start_time": when})
    scheduled = Scheduled(scheduled_time=when).snapshot
    event = state_event(run, scheduled, None, None, caused_by, traceparent=traceparent)
    entry = RunEntry(
        status=EntryStatus.QUEUED,
        job=job,
        run=run,
        state=scheduled,
        event_id=event.id,
        scheduled_time=when,
        caused_by=caused_by,
        traceparent=traceparent,
    )
    if await plane.board.create(entry) is not None:
        await plane.publish(event)
        await plane.publish_request(entry)
        return entry, True
    found = await plane.board.get(run.id)
    if found is None:
        raise BrokerUnavailableError(f"run {run.id} could not be created; try again")
    existing = found[0]
    if existing.status is EntryStatus.QUEUED:  # the first submission may have stopped midway
        if existing.state.name == "Scheduled" and existing.event_id is not None:
            await plane.publish(
                state_event(
                    existing.run,
                    existing.state,
                    None,
                    None,
                    existing.caused_by,
                    event_id=existing.event_id,
                    traceparent=existing.traceparent,
                )
            )
        await plane.publish_request(existing)
    return existing, False


async def cancel_run(plane: RunPlane, run_id: UUID, message: str | None = None) -> RunEntry | None:
    """Cancel a requested run: a queued one ends Cancelled at once; a running one goes
    Cancelling and its worker stops it. The entry after the command (an ended run's entry
    unchanged); ``None`` if the run is unknown to the runtime."""
    text = message or "cancelled on request"

    def decide(entry: RunEntry) -> tuple[RunEntry, Event | None] | None:
        if entry.status is EntryStatus.FINAL or entry.cancel_requested:
            return None
        if entry.status is EntryStatus.QUEUED:
            return entry.advance(
                Cancelled(text).snapshot, status=EntryStatus.FINAL, cancel_requested=True
            )
        return entry.advance(Cancelling(text).snapshot, cancel_requested=True)

    moved = await plane.move(run_id, decide)
    if moved is None:
        found = await plane.board.get(run_id)
        return found[0] if found is not None else None
    entry = moved[0]
    if entry.worker is not None and entry.status is EntryStatus.CLAIMED:
        try:
            await plane.notify_worker(entry.worker, {"cancel": str(run_id)})
        except Exception as error:  # the worker also sees it on its next heartbeat
            log.warning("could not notify worker %s of the cancel: %s", entry.worker, error)
    return entry
