"""Models the engine builds without validation are the models validation would build."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from proctor.events.ids import uuid7
from proctor.runtime.engine import states
from proctor.runtime.engine.unchecked import built, replaced
from proctor.runtime.run_events import StateSnapshot, StateType, TaskRunSnapshot
from tests.unit.test_state_event_wire import TASK_RUN

NOW = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def same(made: BaseModel, expected: BaseModel) -> None:
    assert type(made) is type(expected)
    assert made == expected
    assert list(made.__dict__) == list(expected.__dict__)  # the JSON follows this order
    assert made.model_fields_set == expected.model_fields_set
    assert made.model_dump_json() == expected.model_dump_json()
    assert pickle.loads(pickle.dumps(made)) == expected
    assert copy.deepcopy(made) == expected


def test_a_built_state_is_the_validated_state() -> None:
    values: dict[str, Any] = {
        "id": uuid7(),
        "type": StateType.RUNNING,
        "name": "Running",
        "timestamp": NOW,
        "message": 'ünïcødé "quoted"',
        "scheduled_time": None,
    }
    same(built(StateSnapshot, dict(values), set(values)), StateSnapshot(**values))


def test_a_built_task_run_is_the_validated_task_run() -> None:
    values = TASK_RUN.model_dump()  # every field set, upstream edges included
    same(built(TaskRunSnapshot, dict(values), set(values)), TaskRunSnapshot(**values))


def test_replaced_is_model_copy() -> None:
    run = TaskRunSnapshot(id=uuid7(), name="t-0", task_key="m.t", dynamic_key="0")
    changes = {"run_count": 1, "start_time": NOW}
    same(replaced(run, changes), run.model_copy(update=changes))
    assert (run.run_count, run.start_time) == (0, None)  # the original is untouched
    again = replaced(replaced(run, changes), {"end_time": NOW})
    same(again, run.model_copy(update=changes).model_copy(update={"end_time": NOW}))


def test_built_models_stay_frozen() -> None:
    state = states.Running().snapshot
    with pytest.raises(ValueError, match="frozen"):
        state.name = "Completed"  # type: ignore[misc]


def test_the_engines_states_are_the_validated_states() -> None:
    for made in (states.Pending(), states.Running(), states.Completed(3), states.Failed("x")):
        fields = made.snapshot.model_dump()
        same(made.snapshot, StateSnapshot(**fields))


def test_a_message_that_is_not_text_is_still_refused() -> None:
    with pytest.raises(ValueError, match="message"):
        states.Failed(42)  # type: ignore[arg-type]
