"""The flow engine's event writer writes exactly the JSON the ``Event`` model would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from proctor.core.errors import EventError, EventTooLargeError
from proctor.events.ids import uuid7
from proctor.events.model import WireEvent
from proctor.runtime.engine import states
from proctor.runtime.engine.event_writer import StateEventWriter
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    RelatedInputs,
    StateSnapshot,
    StateType,
    TaskRunSnapshot,
    related_inputs,
    state_change_event,
)

DUE = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
STATES: list[Callable[[], states.State[Any]]] = [
    lambda: states.Scheduled(scheduled_time=DUE),
    lambda: states.Late("late by 3 s", scheduled_time=DUE),
    lambda: states.AwaitingRetry("retry 1 of 2 in 5 s", scheduled_time=DUE),
    states.Pending,
    states.Running,
    states.Retrying,
    lambda: states.Completed(42),
    lambda: states.Cached(42, "from cache"),
    lambda: states.Failed('boom: "quoted" \\ and ünïcødé\n'),
    lambda: states.TimedOut("after 1 s"),
    lambda: states.Crashed("crashed: KeyboardInterrupt: "),
    states.Cancelling,
    lambda: states.Cancelled("by request"),
    states.Paused,
]

FLOW_RUN = FlowRunSnapshot(
    id=uuid7(),
    name="brave-koala",
    flow_name="etl ✓",
    flow_version="1.2",
    deployment_id=uuid7(),
    deployment_name="nightly",
    work_pool="pool-a",
    work_queue="default",
    parameters={"n": 3, "ratio": 0.5, "nested": {"a": [1, None, True]}, "text": "héllo"},
    tags=("prod", "team:data"),
    run_count=1,
    parent_flow_run_id=uuid7(),
    parent_task_run_id=uuid7(),
    retry_of=uuid7(),
    expected_start_time=DUE,
    start_time=DUE + timedelta(seconds=1),
)
TASK_RUN = TaskRunSnapshot.model_validate(
    {
        "id": uuid7(),
        "name": "load-3",
        "task_key": "pipeline.load",
        "dynamic_key": "3",
        "flow_run_id": uuid7(),
        "flow_name": "etl",
        "tags": ("io",),
        "run_count": 2,
        "task_inputs": {"rows": [uuid7(), uuid7()], "config": []},
        "wait_for": [uuid7()],
        "cache_key": "abc123",
        "start_time": DUE,
        "end_time": DUE + timedelta(seconds=1.5),
    }
)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
BARE_TASK_RUN = TaskRunSnapshot(id=uuid7(), name="t-0", task_key="m.t", dynamic_key="0")
RUNS = [FLOW_RUN, TASK_RUN, BARE_TASK_RUN]


def assert_same_as_model(
    run: FlowRunSnapshot | TaskRunSnapshot,
    state: StateSnapshot,
    previous: StateSnapshot | None,
    follows: Any = None,
    writer: StateEventWriter | None = None,
    traceparent: str | None = None,
) -> WireEvent:
    wire = (writer or StateEventWriter()).write(
        run, state, previous, follows=follows, traceparent=traceparent
    )
    event = state_change_event(
        run, state, previous, follows=follows, id=wire.id, traceparent=traceparent
    )
    assert wire.data == event.to_wire()
    assert (wire.id, wire.event) == (event.id, event.event)
    assert wire.to_event() == event
    return wire


@pytest.mark.parametrize("traceparent", [None, TRACEPARENT], ids=["untraced", "traced"])
@pytest.mark.parametrize("make_state", STATES)
@pytest.mark.parametrize("run", RUNS, ids=["flow-run", "task-run", "bare-task-run"])
def test_every_state_event_is_byte_for_byte_the_models(
    run: FlowRunSnapshot | TaskRunSnapshot,
    make_state: Callable[[], states.State[Any]],
    traceparent: str | None,
) -> None:
    previous = states.Running("was running").snapshot
    state = make_state().snapshot
    assert_same_as_model(run, state, None, traceparent=traceparent)
    assert_same_as_model(run, state, previous, follows=uuid7(), traceparent=traceparent)


def test_a_traced_event_carries_its_trace_context_and_an_untraced_one_none() -> None:
    traced = assert_same_as_model(
        TASK_RUN, states.Running().snapshot, None, traceparent=TRACEPARENT
    )
    assert traced.to_event().traceparent == TRACEPARENT
    untraced = assert_same_as_model(TASK_RUN, states.Running().snapshot, None)
    assert untraced.to_event().traceparent is None
    assert b"traceparent" not in untraced.data


@pytest.mark.parametrize("run", RUNS, ids=["flow-run", "task-run", "bare-task-run"])
def test_a_runs_events_in_sequence_are_the_models(run: FlowRunSnapshot | TaskRunSnapshot) -> None:
    writer, previous, follows = StateEventWriter(), None, None
    chain = [states.Pending(), states.Running(), states.AwaitingRetry(scheduled_time=DUE)]
    chain += [states.Retrying(), states.Completed(1)]
    for count, made in enumerate(chain):
        run = run.model_copy(update={"run_count": count, "tags": run.tags[: 3 - count]})
        state = made.snapshot
        follows = assert_same_as_model(run, state, previous, follows, writer).id
        previous = state


def test_an_event_has_the_id_of_the_state_it_enters() -> None:
    writer, previous, follows = StateEventWriter(), None, None
    for made in (states.Pending(), states.Running(), states.Completed(1)):
        wire = assert_same_as_model(TASK_RUN, made.snapshot, previous, follows, writer)
        assert wire.id == made.snapshot.id
        previous, follows = made.snapshot, wire.id


def test_a_task_runs_related_resources_are_its_flow_flow_run_and_tags() -> None:
    assert related_inputs(TASK_RUN) == RelatedInputs(
        TASK_RUN.flow_name, TASK_RUN.tags, flow_run_id=TASK_RUN.flow_run_id
    )
    event = assert_same_as_model(TASK_RUN, states.Running().snapshot, None).to_event()
    assert [(r.role, r.id) for r in event.related] == [
        ("flow", "proctor.flow.etl"),
        ("flow-run", f"proctor.flow-run.{TASK_RUN.flow_run_id}"),
        ("tag", "proctor.tag.io"),
    ]


def test_a_timestamp_in_another_zone_is_stored_in_utc_like_the_model() -> None:
    state = StateSnapshot(
        type=StateType.RUNNING,
        name="Running",
        timestamp=datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=-4))),
    )
    wire = assert_same_as_model(TASK_RUN, state, None)
    assert b'"occurred":"2026-05-01T12:00:00Z"' in wire.data


def test_a_bad_state_name_is_the_models_error() -> None:
    state = StateSnapshot(type=StateType.COMPLETED, name="All done")
    with pytest.raises(EventError, match="All done"):
        StateEventWriter().write(TASK_RUN, state, None)


def test_a_tag_over_the_label_limit_is_the_models_error() -> None:
    run = TASK_RUN.model_copy(update={"tags": ("x" * 3000,)})
    with pytest.raises(EventError, match=r"related\.2: .*the limit is 2048"):
        StateEventWriter().write(run, states.Pending().snapshot, None)


def test_an_event_over_the_payload_limit_is_the_models_error() -> None:
    run = FLOW_RUN.model_copy(update={"parameters": {"blob": "x" * 300_000}})
    with pytest.raises(EventTooLargeError):
        StateEventWriter().write(run, states.Pending().snapshot, None)


def test_a_large_event_within_the_limits_falls_back_to_the_model_and_matches() -> None:
    run = FLOW_RUN.model_copy(update={"parameters": {"blob": "x" * 200_000}})
    state = states.Pending().snapshot
    assert len(assert_same_as_model(run, state, None).data) > 200_000
    wire = assert_same_as_model(run, state, None, traceparent=TRACEPARENT)
    assert wire.to_event().traceparent == TRACEPARENT


def test_a_run_name_over_the_label_limit_is_the_models_error() -> None:
    run = TASK_RUN.model_copy(update={"name": "n" * 2049})
    with pytest.raises(EventError, match=r"resource: .*the limit is 2048"):
        StateEventWriter().write(run, states.Pending().snapshot, None)
