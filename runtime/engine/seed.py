"""Running a flow as a run that already exists: the seed a worker hands to the engine.

A deployment run is created (Scheduled, then Pending) before any process runs it, with its id,
name, deployment, work pool and tags fixed. The worker passes that record as a ``RunSeed``;
the engine continues the run from its last state (``follows`` its last event) instead of
starting a new one, reports each state it enters to ``on_state``, and ends it Cancelled (with
the ``on_cancellation`` hooks) when ``cancel`` is requested while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot

__all__ = ("CancelRequest", "RunSeed", "StateListener")

StateListener = Callable[[FlowRunSnapshot, StateSnapshot, UUID | None], None]
"""``listener(run, state, event_id)``: called after each state the run enters."""


class CancelRequest:
    """Set from outside (a worker's command) to end the run Cancelled.

    ``state`` and ``event_id`` are the Cancelling state recorded by whoever asked, so the
    run's Cancelled event follows it.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.state: StateSnapshot | None = None
        self.event_id: UUID | None = None
        self.message: str | None = None

    def request(
        self,
        state: StateSnapshot | None = None,
        event_id: UUID | None = None,
        message: str | None = None,
    ) -> None:
        self.state, self.event_id, self.message = state, event_id, message
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass
class RunSeed:
    """An existing flow run for the engine to continue: its record and latest state."""

    run: FlowRunSnapshot
    state: StateSnapshot
    event_id: UUID | None = None
    on_state: StateListener | None = None
    cancel: CancelRequest = field(default_factory=CancelRequest)
    traceparent: str | None = None
    """The trace context of the run's request: the parent of the run's span."""
