"""``RunControl`` over the runtime: run requests on the run plane, runs and logs in the store.

- ``run_deployment`` requests a run of a deployment (its defaults merged with the action's
  parameters) through ``submit_run``; the run's id is a UUIDv5 of the action's idempotency
  key, so a firing retried, re-delivered or made by another replica requests one run.
- ``read_flow_run`` prefers the run plane's entry (runs in flight), then the store.
- ``cancel_flow_run`` and ``set_flow_run_state`` move the run's entry with compare-and-set.
- ``pause_deployment`` / ``resume_deployment`` flip the deployment's ``paused`` (its
  schedules stop and start again) and publish ``proctor.deployment.paused`` / ``.resumed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from proctor.automations.ports import DeploymentInfo, FlowRunInfo, RunHandle
from proctor.core.errors import ActionError, InvalidStateTransitionError, ProctorError
from proctor.events.bus.base import EventBus
from proctor.events.labels import ID_LABEL, NAME_LABEL
from proctor.events.model import Event
from proctor.runtime.automation_service.registry import AutomationRegistry
from proctor.runtime.deployments.pools import WorkPoolService
from proctor.runtime.deployments.service import DeploymentService
from proctor.runtime.orchestration import EntryStatus, RunEntry, RunPlane, cancel_run
from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot, StateType
from proctor.runtime.store import Store
from proctor.runtime.store.control import DeploymentRow

__all__ = ("RUN_NAMESPACE", "RuntimeRunControl", "run_id_for")

RUN_NAMESPACE: Final = uuid.UUID("3c9e2a71-5d4b-4f08-9e1a-7b6c5d4e3f21")


def run_id_for(idempotency_key: str) -> UUID:
    """The flow run id an action's idempotency key maps to: the same key, the same run."""
    return uuid.uuid5(RUN_NAMESPACE, idempotency_key)


def _deployment_info(row: DeploymentRow) -> DeploymentInfo:
    return DeploymentInfo(
        id=row.id,
        name=row.name,
        flow_name=row.flow_name,
        parameters=row.parameters,
        tags=tuple(row.tags),
        work_pool=row.work_pool,
        paused=row.paused,
    )


def _run_info(run: FlowRunSnapshot, state: StateSnapshot | None) -> FlowRunInfo:
    return FlowRunInfo(
        id=run.id,
        name=run.name,
        flow_name=run.flow_name,
        deployment_id=run.deployment_id,
        deployment_name=run.deployment_name,
        work_pool=run.work_pool,
        parameters=run.parameters,
        tags=run.tags,
        retry_of=run.retry_of,
        state_type=state.type.value if state is not None else None,
        state_name=state.name if state is not None else None,
        state_message=state.message if state is not None else None,
    )


class RuntimeRunControl:
    """The runtime side of the automations' ``RunControl`` port."""

    def __init__(
        self,
        store: Store,
        plane: RunPlane,
        bus: EventBus,
        *,
        registry: AutomationRegistry | None = None,
        ui_url: str | Callable[[], str | None] | None = None,
    ) -> None:
        self.store = store
        self.plane = plane
        self.bus = bus
        self.registry = registry or AutomationRegistry(store, bus)
        self._ui_url = ui_url
        self._deployments = DeploymentService(store, plane, WorkPoolService(store, plane))

    async def _deployment(self, reference: str) -> DeploymentRow:
        row = await self.registry.deployment(reference)
        if row is None:
            raise ActionError(
                f"no deployment {reference!r} (it may have been deleted)",
                reason="deployment_not_found",
            )
        return row

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
        row = await self._deployment(deployment)
        if row.entrypoint is None and row.work_pool is not None:  # served ones need none
            raise ActionError(
                f"deployment {row.flow_name}/{row.name} has no entrypoint: it cannot "
                "be run by a worker",
                reason="deployment_not_runnable",
            )
        try:  # the deployments' own request path: defaults, job variables, limits, routing
            entry, created = await self._deployments.request_run(
                row.id,
                parameters=parameters,
                flow_run_id=run_id_for(idempotency_key),
                scheduled_time=scheduled_time,
                tags=tags,
                retry_of=retry_of,
                caused_by=caused_by,
            )
        except ProctorError as error:
            raise ActionError(
                f"could not request a run of {row.flow_name}/{row.name}: {error}",
                reason="run_request_failed",
                retryable=True,
            ) from None
        return RunHandle(flow_run_id=entry.id, created=created)

    async def read_flow_run(self, flow_run_id: UUID) -> FlowRunInfo | None:
        found = await self.plane.board.get(flow_run_id)
        if found is not None:
            entry = found[0]
            return _run_info(entry.run, entry.state)
        record = await self.store.runs.flow_run(flow_run_id)
        if record is None:
            return None
        return FlowRunInfo(
            id=record.id,
            name=record.name,
            flow_name=record.flow_name,
            deployment_id=record.deployment_id,
            deployment_name=record.deployment_name,
            work_pool=record.work_pool,
            parameters=record.parameters,
            tags=tuple(record.tags),
            retry_of=record.retry_of,
            state_type=str(record.state.type),
            state_name=record.state.name,
            state_message=record.state.message,
        )

    async def read_deployment(self, deployment: str) -> DeploymentInfo | None:
        row = await self.registry.deployment(deployment)
        return _deployment_info(row) if row is not None else None

    async def flow_run_logs(self, flow_run_id: UUID, *, limit: int) -> list[str]:
        lines: list[str] = []
        token: str | None = None
        while True:  # oldest first; keep the last `limit`
            page = await self.store.logs.query(flow_run_id, limit=500, page_token=token)
            lines.extend(line.message for line in page.items)
            lines = lines[-limit:]
            token = page.next_page
            if token is None:
                return lines

    def flow_run_url(self, flow_run_id: UUID) -> str | None:
        base = self._ui_url() if callable(self._ui_url) else self._ui_url
        return f"{base.rstrip('/')}/runs/{flow_run_id}" if base else None

    async def cancel_flow_run(self, flow_run_id: UUID, *, idempotency_key: str) -> None:
        entry = await cancel_run(self.plane, flow_run_id, "cancelled by an automation")
        if entry is None:
            raise ActionError(
                f"flow run {flow_run_id} is not a run the runtime started (or it ended long "
                "ago): it cannot be cancelled",
                reason="not_in_flight",
            )

    async def set_flow_run_state(
        self,
        flow_run_id: UUID,
        *,
        state_type: str,
        state_name: str | None,
        message: str | None,
        idempotency_key: str,
    ) -> None:
        kind = StateType(state_type)
        state = StateSnapshot(type=kind, name=state_name or kind.value.title(), message=message)

        def decide(entry: RunEntry) -> tuple[RunEntry, Event | None] | None:
            if entry.state.type is kind and entry.state.name == state.name:
                return None  # already there (a retried action)
            status = EntryStatus.FINAL if kind.is_terminal else entry.status
            return entry.advance(state, status=status)

        try:
            moved = await self.plane.move(flow_run_id, decide)
        except InvalidStateTransitionError as error:
            raise ActionError(str(error), reason="invalid_transition") from None
        if moved is None and await self.plane.board.get(flow_run_id) is None:
            raise ActionError(
                f"flow run {flow_run_id} is not in flight: its state cannot change",
                reason="not_in_flight",
            )

    async def _set_paused(self, deployment: str, paused: bool) -> None:
        row = await self._deployment(deployment)
        if row.paused == paused:
            return
        await self.store.deployments.update(row.id, paused=paused)
        change = "paused" if paused else "resumed"
        await self.bus.publish(
            Event.build(
                f"proctor.deployment.{change}",
                {ID_LABEL: f"proctor.deployment.{row.id}", NAME_LABEL: row.name},
                payload={"change": change},
            )
        )

    async def pause_deployment(self, deployment: str) -> None:
        await self._set_paused(deployment, True)

    async def resume_deployment(self, deployment: str) -> None:
        await self._set_paused(deployment, False)
