"""One run's record and state machine: every accepted transition becomes one event, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

from proctor.events.model import WireEvent
from proctor.runtime.engine.event_writer import StateEventWriter
from proctor.runtime.engine.publishing import Outbox
from proctor.runtime.engine.run_json import Updated
from proctor.runtime.engine.states import ALLOWED_NEXT, validate_transition
from proctor.runtime.engine.unchecked import replaced
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    StateSnapshot,
    TaskRunSnapshot,
)

__all__ = ("RunTracker",)

S = TypeVar("S", FlowRunSnapshot, TaskRunSnapshot)


class RunTracker(Generic[S]):
    """Holds a run's snapshot, current state and history; publishes each transition.

    ``set_state`` checks the transition rules, updates the snapshot (run count, start and end
    time...), and queues the state-change event on the outbox (``follows`` = the run's
    previous event, so a reader can order them). Without an outbox nothing is built.
    """

    __slots__ = (
        "_events",
        "_last_event_id",
        "_listener",
        "_writer",
        "history",
        "snapshot",
        "state",
        "traceparent",
    )

    def __init__(
        self,
        snapshot: S,
        events: Outbox[WireEvent] | None,
        *,
        state: StateSnapshot | None = None,
        last_event_id: UUID | None = None,
        listener: Callable[[S, StateSnapshot, UUID | None], None] | None = None,
    ) -> None:
        self.snapshot: S = snapshot
        self.state: StateSnapshot | None = state
        self.history: list[StateSnapshot] = [state] if state is not None else []
        self._events = events
        self._writer = StateEventWriter()
        self._last_event_id: UUID | None = last_event_id
        self._listener: Callable[[S, StateSnapshot, UUID | None], None] | None = listener
        self.traceparent: str | None = None
        """The trace context its events carry: the run's span, if it is traced."""

    @property
    def id(self) -> UUID:
        return self.snapshot.id

    def set_state(self, state: StateSnapshot, **updates: Any) -> None:
        """Move to ``state`` (``InvalidStateTransitionError`` if the rules forbid it)."""
        previous = self.state
        if state.type not in ALLOWED_NEXT[previous.type if previous is not None else None]:
            validate_transition(previous, state)  # raises, saying why
        updated: Updated | None = None
        if updates:
            updated = (self.snapshot, updates)
            self.snapshot = replaced(self.snapshot, updates)
        self.state = state
        self.history.append(state)
        event_id: UUID | None = None
        if self._events is not None:
            event = self._writer.write(
                self.snapshot, state, previous, self._last_event_id, self.traceparent, updated
            )
            self._last_event_id = event_id = event.id
            self._events.add(event)
        if self._listener is not None:
            self._listener(self.snapshot, state, event_id)

    def adopt(self, state: StateSnapshot, event_id: UUID | None) -> None:
        """Take ``state``, recorded by someone else (its event ``event_id``), as the current
        state without publishing it: the next transition follows it."""
        validate_transition(self.state, state)
        self.state = state
        self.history.append(state)
        if event_id is not None:
            self._last_event_id = event_id
