"""In-memory stand-ins for what the runtime gives actions (runs, deployments, logs, senders),
and a trigger state store whose writes wait for the test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from proctor.automations.delivery import DeliveryOutcome
from proctor.automations.ports import DeploymentInfo, FlowRunInfo, RunHandle
from proctor.core.errors import ActionError
from proctor.triggers.state import (
    InMemoryTriggerStateStore,
    Record,
    StateRef,
    TriggerStateStore,
    Versioned,
)

RUN_NAMESPACE = uuid.UUID("6a7f3b1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b")


@dataclass
class RunRequest:
    deployment: str
    parameters: dict[str, Any]
    idempotency_key: str
    scheduled_time: datetime | None
    retry_of: UUID | None
    run_id: UUID


@dataclass
class FakeRuns:
    """A RunControl: deployments by id and name, runs by id, requests deduplicated by key."""

    deployments: dict[str, DeploymentInfo] = field(default_factory=dict)
    runs: dict[UUID, FlowRunInfo] = field(default_factory=dict)
    logs: dict[UUID, list[str]] = field(default_factory=dict)
    requests: list[RunRequest] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    arrivals: asyncio.Queue[RunRequest] = field(default_factory=asyncio.Queue)
    fail_next: list[ActionError] = field(default_factory=list)

    async def next_request(self, timeout_s: float = 10.0) -> RunRequest:
        """The next run requested (``TimeoutError`` after ``timeout_s``)."""
        return await asyncio.wait_for(self.arrivals.get(), timeout_s)

    def add_deployment(self, flow: str, name: str, **extra: Any) -> DeploymentInfo:
        info = DeploymentInfo(id=uuid.uuid4(), name=name, flow_name=flow, **extra)
        self.deployments[str(info.id)] = info
        self.deployments[f"{flow}/{name}"] = info
        return info

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
        if self.fail_next:
            raise self.fail_next.pop(0)
        info = self.deployments.get(deployment)
        if info is None:
            raise ActionError(f"no deployment {deployment!r}", reason="deployment_not_found")
        run_id = uuid.uuid5(RUN_NAMESPACE, idempotency_key)
        if any(r.run_id == run_id for r in self.requests):
            return RunHandle(flow_run_id=run_id, created=False)
        request = RunRequest(
            deployment, dict(parameters), idempotency_key, scheduled_time, retry_of, run_id
        )
        self.requests.append(request)
        self.runs[run_id] = FlowRunInfo(
            id=run_id,
            name=f"run-{len(self.requests)}",
            flow_name=info.flow_name,
            deployment_id=info.id,
            deployment_name=info.name,
            parameters=dict(parameters),
            retry_of=retry_of,
            state_type="SCHEDULED",
            state_name="Scheduled",
        )
        self.arrivals.put_nowait(request)
        return RunHandle(flow_run_id=run_id, created=True)

    async def read_flow_run(self, flow_run_id: UUID) -> FlowRunInfo | None:
        return self.runs.get(flow_run_id)

    async def read_deployment(self, deployment: str) -> DeploymentInfo | None:
        return self.deployments.get(deployment)

    async def flow_run_logs(self, flow_run_id: UUID, *, limit: int) -> list[str]:
        return self.logs.get(flow_run_id, [])[-limit:]

    def flow_run_url(self, flow_run_id: UUID) -> str | None:
        return f"http://proctor.test/runs/{flow_run_id}"

    async def cancel_flow_run(self, flow_run_id: UUID, *, idempotency_key: str) -> None:
        self.calls.append(("cancel", flow_run_id))

    async def set_flow_run_state(
        self,
        flow_run_id: UUID,
        *,
        state_type: str,
        state_name: str | None,
        message: str | None,
        idempotency_key: str,
    ) -> None:
        self.calls.append(("state", (flow_run_id, state_type, state_name, message)))

    async def pause_deployment(self, deployment: str) -> None:
        self.calls.append(("pause-deployment", deployment))

    async def resume_deployment(self, deployment: str) -> None:
        self.calls.append(("resume-deployment", deployment))


@dataclass
class RecordingSender:
    """A Slack or webhook sender that records what it was asked to send."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    arrivals: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    gate: asyncio.Event | None = None
    """When given, each send (once recorded) waits for it: a slow destination."""

    async def send(self, *args: Any, **kwargs: Any) -> DeliveryOutcome:
        record = {"args": args, **kwargs}
        self.sent.append(record)
        self.arrivals.put_nowait(record)
        if self.gate is not None:
            await self.gate.wait()
        if self.outcomes:
            return self.outcomes.pop(0)
        return DeliveryOutcome(delivered=True, reason="ok", status=200)


class GatedState(TriggerStateStore):
    """A state store whose writes wait until ``gate`` is set: a slow (or stalled) store, so a
    checkpoint lasts as long as the test wants. ``writing`` is set once one waits. ``over``
    puts it in front of the real store (``Harness.engine(state_through=gated.over)``)."""

    def __init__(self) -> None:
        self.durable: TriggerStateStore = InMemoryTriggerStateStore()
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()

    def over(self, durable: TriggerStateStore) -> GatedState:
        self.durable = durable
        return self

    async def _opened(self) -> None:
        self.writing.set()
        await self.gate.wait()

    async def load(self, ref: StateRef) -> Versioned | None:
        return await self.durable.load(ref)

    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        await self._opened()
        return await self.durable.save(ref, record, revision)

    async def save_many(
        self, writes: Sequence[tuple[StateRef, Record, int | None]]
    ) -> list[int | None]:
        await self._opened()
        return await self.durable.save_many(writes)

    async def delete(self, ref: StateRef, revision: int) -> None:
        await self._opened()
        await self.durable.delete(ref, revision)

    async def scan(self, trigger: str, node: str) -> list[tuple[StateRef, Versioned]]:
        return await self.durable.scan(trigger, node)

    async def scan_all(self, trigger: str | None = None) -> list[tuple[StateRef, Versioned]]:
        return await self.durable.scan_all(trigger)

    async def close(self) -> None:
        await self.durable.close()
