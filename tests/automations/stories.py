"""What the used-by stories share: a fake worker that plays runs' state events."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from proctor.automations.ports import RunHandle
from proctor.events.bus import EventBus
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    StateSnapshot,
    StateType,
    state_change_event,
)
from tests.automations.fakes import FakeRuns


async def play_run(
    bus: EventBus, run: FlowRunSnapshot, final: StateType, name: str, message: str | None = None
) -> None:
    """Publish a run's life as a worker would: Scheduled, Running, then its final state."""
    scheduled = StateSnapshot(type=StateType.SCHEDULED, name="Scheduled")
    running = StateSnapshot(type=StateType.RUNNING, name="Running")
    ended = StateSnapshot(type=final, name=name, message=message)
    previous: StateSnapshot | None = None
    follows: UUID | None = None
    for state in (scheduled, running, ended):
        event = state_change_event(run, state, previous, follows=follows)
        await bus.publish(event)
        previous, follows = state, event.id


@dataclass
class FakeWorker(FakeRuns):
    """Runs requested runs at once: each ends Failed (with ``error``) while ``failures``
    remain, then Completed; ``crash`` makes the failures Crashed (a killed worker)."""

    bus: EventBus | None = None
    failures: int = 0
    crash: bool = False
    error: str = "ValueError: the source is empty"
    finished: list[FlowRunSnapshot] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

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
        handle = await super().run_deployment(
            deployment,
            parameters=parameters,
            idempotency_key=idempotency_key,
            scheduled_time=scheduled_time,
            retry_of=retry_of,
            tags=tags,
            caused_by=caused_by,
        )
        if handle.created:
            info = self.runs[handle.flow_run_id]
            run = FlowRunSnapshot(
                id=info.id,
                name=info.name,
                flow_name=info.flow_name,
                deployment_id=info.deployment_id,
                deployment_name=info.deployment_name,
                parameters=info.parameters,
                retry_of=retry_of,
            )
            task = asyncio.create_task(self.execute(run))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return handle

    async def execute(self, run: FlowRunSnapshot) -> None:
        assert self.bus is not None
        if self.failures > 0:
            self.failures -= 1
            kind, name = (
                (StateType.CRASHED, "Crashed") if self.crash else (StateType.FAILED, "Failed")
            )
            await play_run(self.bus, run, kind, name, self.error)
        else:
            await play_run(self.bus, run, StateType.COMPLETED, "Completed")
        self.finished.append(run)
