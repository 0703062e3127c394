"""States as users see them, their constructors, and the rules of moving between them.

A ``State`` wraps the wire ``StateSnapshot`` (what events carry) with the in-process result:
the value a run returned, or the exception it raised. ``state.result()`` gives the value or
re-raises the exception, as in Prefect.

Transition rules (by state type; ``validate_transition`` enforces them):

==========  =====================================================================
from        may move to
==========  =====================================================================
(new run)   SCHEDULED, PENDING
SCHEDULED   SCHEDULED (Late), PENDING, RUNNING (Retrying), PAUSED, CANCELLING, and any end
PENDING     RUNNING, COMPLETED (Cached), SCHEDULED, PAUSED, CANCELLING, and any end
RUNNING     SCHEDULED (AwaitingRetry), PAUSED, CANCELLING, and any end
PAUSED      RUNNING, PENDING, SCHEDULED, CANCELLING, and any end
CANCELLING  CANCELLED, CRASHED, FAILED, COMPLETED
terminal    nothing: COMPLETED, FAILED, CRASHED and CANCELLED are final
==========  =====================================================================

"Any end" is COMPLETED, FAILED, CRASHED or CANCELLED. A run never goes RUNNING → RUNNING: it
executes at most once at a time, and each new attempt passes through AwaitingRetry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar
from uuid import UUID

from proctor.core.errors import InvalidStateTransitionError, RunError
from proctor.events.ids import uuid7
from proctor.runtime.engine.unchecked import built
from proctor.runtime.run_events import StateSnapshot, StateType

__all__ = (
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Late",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "TimedOut",
    "validate_transition",
)

R = TypeVar("R")

_ENDS = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
ALLOWED_NEXT: Final[dict[StateType | None, frozenset[StateType]]] = {
    None: frozenset({StateType.SCHEDULED, StateType.PENDING}),
    StateType.SCHEDULED: _ENDS
    | {
        StateType.SCHEDULED,
        StateType.PENDING,
        StateType.RUNNING,
        StateType.PAUSED,
        StateType.CANCELLING,
    },
    StateType.PENDING: _ENDS
    | {StateType.RUNNING, StateType.SCHEDULED, StateType.PAUSED, StateType.CANCELLING},
    StateType.RUNNING: _ENDS | {StateType.SCHEDULED, StateType.PAUSED, StateType.CANCELLING},
    StateType.PAUSED: _ENDS
    | {StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED, StateType.CANCELLING},
    StateType.CANCELLING: frozenset(
        {StateType.CANCELLED, StateType.CRASHED, StateType.FAILED, StateType.COMPLETED}
    ),
    StateType.COMPLETED: frozenset(),
    StateType.FAILED: frozenset(),
    StateType.CRASHED: frozenset(),
    StateType.CANCELLED: frozenset(),
}


def validate_transition(previous: StateSnapshot | None, new: StateSnapshot) -> None:
    """Raise ``InvalidStateTransitionError`` unless a run in ``previous`` may enter ``new``."""
    before = previous.type if previous is not None else None
    if new.type not in ALLOWED_NEXT[before]:
        was = f"{previous.name} ({before})" if previous is not None else "a new run"
        raise InvalidStateTransitionError(
            f"a run in state {was} cannot move to {new.name} ({new.type}): "
            + ("it has ended" if before is not None and before.is_terminal else "not allowed")
        )


class State(Generic[R]):
    """A run's state: type, name, message, time, and (in process) its result or error."""

    __slots__ = ("_data", "_error", "snapshot", "type")

    def __init__(
        self, snapshot: StateSnapshot, data: R | None = None, error: BaseException | None = None
    ) -> None:
        self.snapshot = snapshot
        self.type: StateType = snapshot.type
        """The snapshot's type (kept here: the engine reads it several times per run)."""
        self._data = data
        self._error = error

    @property
    def name(self) -> str:
        return self.snapshot.name

    @property
    def message(self) -> str | None:
        return self.snapshot.message

    @property
    def timestamp(self) -> datetime:
        return self.snapshot.timestamp

    @property
    def id(self) -> UUID:
        return self.snapshot.id

    @property
    def data(self) -> R | None:
        """The value the run returned (None unless Completed)."""
        return self._data

    @property
    def error(self) -> BaseException | None:
        """The exception the run raised, if it kept one."""
        return self._error

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        return self.type.is_terminal

    def result(self, raise_on_failure: bool = True) -> R:
        """The run's value; for a failed, crashed or cancelled run, re-raise why it ended.

        With ``raise_on_failure=False`` the exception is returned instead of raised.
        """
        if self.type is StateType.COMPLETED or self.type in _NOT_ENDED:
            return self._data  # type: ignore[return-value]
        error = self._error or RunError(
            f"the run ended {self.name}" + (f": {self.message}" if self.message else "")
        )
        if raise_on_failure:
            raise error
        return error  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"{self.name}({self.message!r})" if self.message else f"{self.name}()"


_NOT_ENDED = frozenset(
    {
        StateType.SCHEDULED,
        StateType.PENDING,
        StateType.RUNNING,
        StateType.PAUSED,
        StateType.CANCELLING,
    }
)


_STATE_FIELDS = set(StateSnapshot.model_fields)
_now = datetime.now


def _state(
    type_: StateType,
    name: str,
    message: str | None,
    data: Any = None,
    error: BaseException | None = None,
    scheduled_time: datetime | None = None,
) -> State[Any]:
    values = {
        "id": uuid7(),
        "type": type_,
        "name": name,
        "timestamp": _now(UTC),  # ``utcnow()`` without its call
        "message": message,
        "scheduled_time": scheduled_time,
    }
    if (message is None or type(message) is str) and (
        scheduled_time is None or type(scheduled_time) is datetime
    ):  # the engine's own values: nothing to validate
        return State(built(StateSnapshot, values, _STATE_FIELDS), data, error)
    return State(StateSnapshot(**values), data, error)  # a message from user code, checked


def Scheduled(message: str | None = None, *, scheduled_time: datetime | None = None) -> State[Any]:
    return _state(StateType.SCHEDULED, "Scheduled", message, scheduled_time=scheduled_time)


def Late(message: str | None = None, *, scheduled_time: datetime | None = None) -> State[Any]:
    return _state(StateType.SCHEDULED, "Late", message, scheduled_time=scheduled_time)


def AwaitingRetry(
    message: str | None = None, *, scheduled_time: datetime | None = None
) -> State[Any]:
    return _state(StateType.SCHEDULED, "AwaitingRetry", message, scheduled_time=scheduled_time)


def Pending(message: str | None = None) -> State[Any]:
    return _state(StateType.PENDING, "Pending", message)


def Running(message: str | None = None) -> State[Any]:
    return _state(StateType.RUNNING, "Running", message)


def Retrying(message: str | None = None) -> State[Any]:
    return _state(StateType.RUNNING, "Retrying", message)


def Completed(data: Any = None, message: str | None = None) -> State[Any]:
    """A completed state; return one from a flow or task to end it with ``data``."""
    return _state(StateType.COMPLETED, "Completed", message, data)


def Cached(data: Any = None, message: str | None = None) -> State[Any]:
    return _state(StateType.COMPLETED, "Cached", message, data)


def Failed(message: str | None = None, *, error: BaseException | None = None) -> State[Any]:
    """A failed state; return one from a flow or task to end it as failed."""
    return _state(StateType.FAILED, "Failed", message, error=error)


def TimedOut(message: str | None = None, *, error: BaseException | None = None) -> State[Any]:
    return _state(StateType.FAILED, "TimedOut", message, error=error)


def Crashed(message: str | None = None, *, error: BaseException | None = None) -> State[Any]:
    return _state(StateType.CRASHED, "Crashed", message, error=error)


def Cancelling(message: str | None = None) -> State[Any]:
    return _state(StateType.CANCELLING, "Cancelling", message)


def Cancelled(message: str | None = None, *, error: BaseException | None = None) -> State[Any]:
    return _state(StateType.CANCELLED, "Cancelled", message, error=error)


def Paused(message: str | None = None) -> State[Any]:
    return _state(StateType.PAUSED, "Paused", message)
