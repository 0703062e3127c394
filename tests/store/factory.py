"""Building run state events the way the engine does (through ``state_change_event``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from proctor.events.ids import uuid7
from proctor.events.model import Event
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    StateSnapshot,
    StateType,
    TaskRunSnapshot,
    state_change_event,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LIFECYCLE = ((StateType.PENDING, "Pending"), (StateType.RUNNING, "Running"),
             (StateType.COMPLETED, "Completed"))  # fmt: skip


def state(kind: StateType, name: str, at: datetime, state_id: UUID | None = None) -> StateSnapshot:
    return StateSnapshot(id=state_id or uuid7(), type=kind, name=name, timestamp=at)


def lifecycle_events(
    run: FlowRunSnapshot | TaskRunSnapshot, start: datetime, step: timedelta = timedelta(seconds=1)
) -> list[Event]:
    """Pending → Running → Completed events of ``run``."""
    events: list[Event] = []
    previous: StateSnapshot | None = None
    for index, (kind, name) in enumerate(LIFECYCLE):
        current = state(kind, name, start + index * step)
        snapshot = run.model_copy(
            update={
                "run_count": 1 if kind != StateType.PENDING else 0,
                "start_time": start + step if kind != StateType.PENDING else None,
                "end_time": start + 2 * step if kind == StateType.COMPLETED else None,
            }
        )
        events.append(state_change_event(snapshot, current, previous))
        previous = current
    return events


@dataclass
class FlowWithTasks:
    """A flow run whose task ``i`` takes task ``i - 1``'s result (and waits on task 0)."""

    tasks: int
    flow_name: str = "etl"
    tags: tuple[str, ...] = ()
    start: datetime = T0
    flow_run: FlowRunSnapshot = field(init=False)
    task_runs: list[TaskRunSnapshot] = field(init=False)

    def __post_init__(self) -> None:
        self.flow_run = FlowRunSnapshot(
            id=uuid.uuid4(),
            name="brave-otter",
            flow_name=self.flow_name,
            tags=self.tags,
            expected_start_time=self.start,
        )
        self.task_runs = []
        for i in range(self.tasks):
            inputs = {"x": [self.task_runs[-1].id]} if self.task_runs else {}
            wait_for = [self.task_runs[0].id] if i >= 2 else []
            self.task_runs.append(
                TaskRunSnapshot(
                    id=uuid.uuid4(),
                    name=f"double-{i}",
                    task_key="double",
                    dynamic_key=str(i),
                    flow_run_id=self.flow_run.id,
                    flow_name=self.flow_name,
                    tags=self.tags,
                    task_inputs=inputs,
                    wait_for=wait_for,
                    expected_start_time=self.start + timedelta(milliseconds=i),
                )
            )

    def events(self) -> list[Event]:
        """Every state event: the flow's and its tasks' (each Pending, Running, Completed)."""
        events = lifecycle_events(self.flow_run, self.start, timedelta(hours=1))
        for i, task_run in enumerate(self.task_runs):
            events += lifecycle_events(task_run, self.start + timedelta(milliseconds=i))
        return events

    @property
    def edges(self) -> int:
        return max(self.tasks - 1, 0) + max(self.tasks - 2, 0)
