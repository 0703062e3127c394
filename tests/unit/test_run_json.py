"""A task run's JSON, written around the values that change, is what pydantic writes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from pydantic_core import to_json

from proctor.events.ids import uuid7
from proctor.runtime.engine import run_json
from proctor.runtime.engine.run_json import RunJson
from proctor.runtime.engine.unchecked import replaced
from proctor.runtime.run_events import FlowRunSnapshot, TaskRunSnapshot
from tests.unit.test_state_event_wire import FLOW_RUN, TASK_RUN

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)  # whole seconds: no fraction in the JSON
T1 = datetime(2026, 5, 1, 12, 0, 0, 120_000, tzinfo=UTC)
T2 = datetime(2026, 5, 1, 8, 0, 1, 5, tzinfo=timezone(timedelta(hours=-4)))
Run = TypeVar("Run", TaskRunSnapshot, FlowRunSnapshot)


@pytest.fixture
def serialised(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What was serialised with pydantic-core (the rest was written around it)."""
    calls: list[Any] = []

    def counting(value: Any) -> bytes:
        calls.append(value)
        return to_json(value)

    monkeypatch.setattr(run_json, "to_json", counting)
    return calls


def update(writer: RunJson, run: Run, changes: Mapping[str, Any], now: datetime) -> Run:
    """``run`` copied with ``changes`` as the engine does, its JSON checked; the copy."""
    copy = replaced(run, changes)
    assert writer.of(copy, (run, changes), now, to_json(now)) == to_json(copy)
    assert writer.of(copy, None, now, to_json(now)) == to_json(copy)  # the same one again
    return copy


def test_a_task_runs_attempts_are_written_around_count_and_times(serialised: list[Any]) -> None:
    writer = RunJson()
    pending = replaced(TASK_RUN, {"run_count": 0, "start_time": None, "end_time": None})
    assert writer.of(pending, None, T0, to_json(T0)) == to_json(pending)
    run = update(writer, pending, {"run_count": 1, "start_time": T1}, T1)  # Running
    run = update(writer, run, {}, T2)  # AwaitingRetry
    run = update(writer, run, {"run_count": 2}, T2)  # Retrying
    run = update(writer, run, {"end_time": T0}, T0)  # Completed
    update(writer, run, {"end_time": T2}, T0)  # a time that is not the state's own
    assert serialised == [pending, T2]  # the first snapshot whole, then one other time


def test_any_other_change_is_serialised_whole(serialised: list[Any]) -> None:
    writer = RunJson()
    assert writer.of(TASK_RUN, None, T0, to_json(T0)) == to_json(TASK_RUN)
    run = TASK_RUN
    for changes in ({"cache_key": "other"}, {"tags": ("x",), "run_count": 3}):
        run = update(writer, run, changes, T0)
    stranger = replaced(run, {"run_count": 4})  # not a copy of the last one written
    assert writer.of(stranger, (TASK_RUN, {"run_count": 4}), T0, b"") == to_json(stranger)
    assert len(serialised) == 4


def test_flow_runs_are_serialised_whole(serialised: list[Any]) -> None:
    writer = RunJson()
    assert writer.of(FLOW_RUN, None, T0, to_json(T0)) == to_json(FLOW_RUN)
    update(writer, FLOW_RUN, {"run_count": 2, "start_time": T1}, T1)
    assert len(serialised) == 2


def test_keys_that_look_like_its_fields_do_not_mislead_it() -> None:
    writer = RunJson()
    run = TaskRunSnapshot(
        id=uuid7(),
        name='a "run_count":1 name',
        task_key="m.t",
        dynamic_key="0",
        task_inputs={"run_count": [uuid7()], "start_time": []},
        cache_key=',"run_count":5,"start_time":null,"end_time":null}',
    )
    assert writer.of(run, None, T0, to_json(T0)) == to_json(run)
    run = update(writer, run, {"run_count": 12, "start_time": T1}, T1)
    update(writer, run, {"end_time": T2}, T2)
