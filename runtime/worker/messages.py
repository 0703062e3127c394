"""What a worker and the process running a flow say to each other.

The worker hands the process a ``RunJob`` (what to run, the run's record and latest state).
The process reports each state its run enters (``StateReport``), or an ``ErrorReport`` when
the flow could not even start; the worker sends ``CancelCommand`` to end it Cancelled.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from proctor.runtime.engine.seed import RunSeed, StateListener
from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot

__all__ = (
    "CancelCommand",
    "ErrorReport",
    "Job",
    "Report",
    "StateReport",
    "parse_report",
)

_FROZEN = ConfigDict(frozen=True, extra="ignore")


class Job(BaseModel):
    """Everything a process needs to run one flow run."""

    model_config = _FROZEN

    entrypoint: str
    working_dir: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    nats_url: str
    namespace: str
    run: FlowRunSnapshot
    state: StateSnapshot
    event_id: UUID | None = None
    traceparent: str | None = Field(
        default=None, description="Trace context of the run's request (its span's parent)."
    )

    def seed(self, on_state: StateListener) -> RunSeed:
        """The run, for the engine to continue, reporting each state to ``on_state``."""
        return RunSeed(
            self.run, self.state, self.event_id, on_state=on_state, traceparent=self.traceparent
        )


class StateReport(BaseModel):
    """The run entered ``state`` (its event ``event_id`` is published by the process)."""

    model_config = _FROZEN

    kind: Literal["state"] = "state"
    run: FlowRunSnapshot
    state: StateSnapshot
    event_id: UUID | None = None


class ErrorReport(BaseModel):
    """The flow did not start: it could not be loaded, or its parameters do not fit."""

    model_config = _FROZEN

    kind: Literal["error"] = "error"
    message: str
    failed: bool = Field(
        default=False, description="True: the run should end Failed (bad parameters), not Crashed."
    )


class CancelCommand(BaseModel):
    """End the run Cancelled; ``state``/``event_id`` are its recorded Cancelling state."""

    model_config = _FROZEN

    kind: Literal["cancel"] = "cancel"
    state: StateSnapshot | None = None
    event_id: UUID | None = None
    message: str | None = None


Report = Annotated[StateReport | ErrorReport, Field(discriminator="kind")]
_REPORT: TypeAdapter[StateReport | ErrorReport] = TypeAdapter(Report)


def parse_report(data: bytes) -> StateReport | ErrorReport:
    return _REPORT.validate_json(data)
