"""What actions need from the platform, as small ports the runtime implements.

``proctor.automations`` sits below the runtime: it never imports it. Actions act on runs,
deployments and automations through these protocols; the runtime implements them over its
store, its run requests and the bus, and tests implement them in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = (
    "AutomationControl",
    "DeploymentInfo",
    "FlowRunInfo",
    "RunControl",
    "RunHandle",
)


class FlowRunInfo(BaseModel):
    """What actions and templates know of a flow run (from its state event, or the store)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    name: str
    flow_name: str
    deployment_id: UUID | None = None
    deployment_name: str | None = None
    work_pool: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    retry_of: UUID | None = Field(default=None, description="The run this one re-runs.")
    state_type: str | None = None
    state_name: str | None = None
    state_message: str | None = None


class DeploymentInfo(BaseModel):
    """What actions and templates know of a deployment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    name: str
    flow_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    work_pool: str | None = None
    paused: bool = False


class RunHandle(BaseModel):
    """A run requested by an action: its id, and whether this request created it (``False``:
    a run with this idempotency key existed already)."""

    model_config = ConfigDict(frozen=True)

    flow_run_id: UUID
    created: bool = True


class RunControl(Protocol):
    """Runs and deployments, as actions see them. Methods raise ``ActionError`` (with a
    ``reason`` and whether a retry may help) when they cannot do what is asked."""

    async def run_deployment(
        self,
        deployment: str,
        *,
        parameters: Mapping[str, Any],
        idempotency_key: str,
        scheduled_time: datetime | None = None,
        retry_of: UUID | None = None,
        tags: Sequence[str] = (),
        caused_by: UUID | None = None,
    ) -> RunHandle:
        """Request a run of ``deployment`` (an id or ``flow/deployment``). The same
        ``idempotency_key`` always gives the same run, created once."""
        ...

    async def read_flow_run(self, flow_run_id: UUID) -> FlowRunInfo | None:
        """The flow run, or ``None`` if it is unknown."""
        ...

    async def read_deployment(self, deployment: str) -> DeploymentInfo | None:
        """The deployment (by id or ``flow/deployment``), or ``None`` if it is unknown."""
        ...

    async def flow_run_logs(self, flow_run_id: UUID, *, limit: int) -> list[str]:
        """The run's last ``limit`` log lines (oldest first); ``[]`` if there are none."""
        ...

    def flow_run_url(self, flow_run_id: UUID) -> str | None:
        """The run's page in the UI, if the server knows its own address."""
        ...

    async def cancel_flow_run(self, flow_run_id: UUID, *, idempotency_key: str) -> None:
        """Cancel the run (Cancelling, then Cancelled once its process is gone)."""
        ...

    async def set_flow_run_state(
        self,
        flow_run_id: UUID,
        *,
        state_type: str,
        state_name: str | None,
        message: str | None,
        idempotency_key: str,
    ) -> None:
        """Move the run to a state (``InvalidStateTransition``-like refusals are ActionErrors)."""
        ...

    async def pause_deployment(self, deployment: str) -> None:
        """Pause the deployment (its schedules stop)."""
        ...

    async def resume_deployment(self, deployment: str) -> None:
        """Resume the deployment."""
        ...


class AutomationControl(Protocol):
    """Pausing and resuming automations (by name or id)."""

    async def pause_automation(self, automation: str, *, reason: str) -> None:
        """Disable the automation; ``reason`` is recorded with the change."""
        ...

    async def resume_automation(self, automation: str) -> None:
        """Enable the automation again."""
        ...
