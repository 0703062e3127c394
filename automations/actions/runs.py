"""Actions on flow runs and deployments: run, retry, cancel, change state, pause, resume."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proctor.automations.actions.base import ActionBase

__all__ = (
    "STATE_TYPES",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "PauseDeployment",
    "ResumeDeployment",
    "RetryFlowRun",
    "RunDeployment",
)

STATE_TYPES = (
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CRASHED",
    "CANCELLING",
    "CANCELLED",
    "PAUSED",
)
StateTypeName = Literal[
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CRASHED",
    "CANCELLING",
    "CANCELLED",
    "PAUSED",
]

_DEPLOYMENT = (
    "A deployment: its id, or 'flow-name/deployment-name'. None: the deployment of the flow "
    "run the event is about."
)
_FLOW_RUN = (
    "The flow run's id (a template such as '{{ event.payload.run_id }}' is allowed). None: "
    "the flow run the event is about."
)


class RunDeployment(ActionBase):
    """Start a run of a deployment, with parameters templated from the event.

    A parameter that is a single template expression keeps its type: ``"{{
    event.payload.count }}"`` passes the number. The run's id is derived from the firing, so a
    firing starts its run once, whatever the retries and replicas.
    """

    type: Literal["run-deployment"] = Field(default="run-deployment", description="Discriminator.")
    deployment: str | None = Field(default=None, min_length=1, description=_DEPLOYMENT)
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters for the run (merged over the deployment's defaults); strings "
        "may be templates.",
    )
    tags: tuple[str, ...] = Field(default=(), description="Extra tags for the run.")

    template_fields: ClassVar[tuple[str, ...]] = ("parameters",)

    def needs_event_run(self) -> bool:
        return self.deployment is None


class RetryFlowRun(ActionBase):
    """Run the failed or crashed flow run again, with the same parameters, until one
    succeeds or ``max_attempts`` runs (the first one included) have been made.

    The new run records the one it retries (``retry_of``). Only runs of a deployment can be
    re-run (a script run directly has nothing a worker could start).
    """

    type: Literal["retry-flow-run"] = Field(default="retry-flow-run", description="Discriminator.")
    max_attempts: int = Field(
        default=3,
        ge=2,
        le=100,
        description="Most runs in all, the failed original included: 3 means two retries.",
    )
    delay: timedelta = Field(
        default=timedelta(0), description="How long after the failure the new run starts."
    )

    def needs_event_run(self) -> bool:
        return True

    @field_validator("delay", mode="after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"must not be negative, not {value}")
        return value


class CancelFlowRun(ActionBase):
    """Cancel a flow run (it becomes Cancelling, then Cancelled once its process is gone)."""

    type: Literal["cancel-flow-run"] = Field(
        default="cancel-flow-run", description="Discriminator."
    )
    flow_run: str | None = Field(default=None, min_length=1, description=_FLOW_RUN)

    template_fields: ClassVar[tuple[str, ...]] = ("flow_run",)

    def needs_event_run(self) -> bool:
        return self.flow_run is None


class ChangeFlowRunState(ActionBase):
    """Move a flow run to another state (e.g. mark a stuck run Failed), with a message."""

    type: Literal["change-flow-run-state"] = Field(
        default="change-flow-run-state", description="Discriminator."
    )
    state: StateTypeName = Field(description="The new state's type: FAILED, CANCELLED...")
    name: str | None = Field(
        default=None, min_length=1, description="The new state's name; none: from its type."
    )
    message: str | None = Field(
        default=None, description="Why (shown with the state); may be a template."
    )
    flow_run: str | None = Field(default=None, min_length=1, description=_FLOW_RUN)

    template_fields: ClassVar[tuple[str, ...]] = ("message", "flow_run")

    def needs_event_run(self) -> bool:
        return self.flow_run is None


class PauseDeployment(ActionBase):
    """Pause a deployment: its schedules stop creating runs until it is resumed."""

    type: Literal["pause-deployment"] = Field(
        default="pause-deployment", description="Discriminator."
    )
    deployment: str | None = Field(default=None, min_length=1, description=_DEPLOYMENT)

    def needs_event_run(self) -> bool:
        return self.deployment is None


class ResumeDeployment(ActionBase):
    """Resume a paused deployment."""

    type: Literal["resume-deployment"] = Field(
        default="resume-deployment", description="Discriminator."
    )
    deployment: str | None = Field(default=None, min_length=1, description=_DEPLOYMENT)

    def needs_event_run(self) -> bool:
        return self.deployment is None
