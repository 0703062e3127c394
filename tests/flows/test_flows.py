"""Flows: calling runs them, states, failures, parameters, subflows, events per transition."""

from __future__ import annotations

import asyncio

import pytest

from proctor import (
    Completed,
    Failed,
    ParameterValidationError,
    State,
    StateType,
    emit_event,
    flow,
    task,
)
from proctor.events.emit import BusThread
from proctor.runtime.run_events import FlowRunSnapshot
from tests.flows.conftest import changes, memory_events, names_of


def test_a_sync_flow_returns_its_value_and_publishes_each_transition(
    memory_publisher: BusThread,
) -> None:
    @flow(name="greet", tags=["demo"], version="1.2")
    def greet(name: str) -> str:
        return f"hello {name}"

    state = greet("ada", return_state=True)
    assert state.is_completed()
    assert state.result() == "hello ada"
    assert greet("bob") == "hello bob"

    events = memory_events(memory_publisher)
    first = changes(events)[0]
    assert isinstance(first.run, FlowRunSnapshot)
    assert names_of(events, first.run.id) == ["Pending", "Running", "Completed"]
    final = [c for c in changes(events) if c.run.id == first.run.id][-1]
    run = final.run
    assert isinstance(run, FlowRunSnapshot)
    assert (run.flow_name, run.flow_version, run.tags) == ("greet", "1.2", ("demo",))
    assert run.parameters == {"name": "ada"}
    assert run.run_count == 1
    assert run.start_time is not None
    assert run.end_time is not None
    assert final.previous_state is not None
    assert final.previous_state.name == "Running"
    event = next(e for e in events if e.id == final.event_id)
    assert event.event == "proctor.flow-run.Completed"
    assert event.resource["proctor.resource.name"] == run.name
    assert {r.role for r in event.related} == {"flow", "tag"}


async def test_an_async_flow_awaits_to_its_value(memory_publisher: BusThread) -> None:
    @task
    async def double(x: int) -> int:
        await asyncio.sleep(0)  # allow-sleep: yields to the loop (an async flow body)
        return 2 * x

    @flow
    async def doubled(x: int) -> int:
        return await double(x)

    assert await doubled(21) == 42
    state = await doubled(1, return_state=True)
    assert state.is_completed()
    assert state.result() == 2
    kinds = {c.kind for c in changes(memory_events(memory_publisher))}
    assert kinds == {"flow-run", "task-run"}


def test_a_failing_flow_is_recorded_failed_then_reraises(memory_publisher: BusThread) -> None:
    class Boom(Exception):
        pass

    @flow
    def broken() -> None:
        raise Boom("no luck")

    with pytest.raises(Boom, match="no luck"):
        broken()
    state = broken(return_state=True)
    assert state.is_failed()
    assert state.type is StateType.FAILED
    assert state.name == "Failed"
    assert state.message == "Boom: no luck"
    with pytest.raises(Boom):
        state.result()
    assert isinstance(state.result(raise_on_failure=False), Boom)
    events = memory_events(memory_publisher)
    assert [e.event for e in events][:3] == [
        "proctor.flow-run.Pending",
        "proctor.flow-run.Running",
        "proctor.flow-run.Failed",
    ]


def test_a_returned_state_decides_the_final_state(memory_publisher: BusThread) -> None:
    @flow
    def decides(ok: bool) -> int | State[int]:
        return Completed(7) if ok else Failed("said no")

    assert decides(True) == 7
    state = decides(False, return_state=True)
    assert state.is_failed()
    assert state.message == "said no"


def test_a_bad_parameter_is_a_clear_error_and_a_failed_run(memory_publisher: BusThread) -> None:
    @flow
    def sized(count: int, label: str = "x") -> int:
        return count

    with pytest.raises(ParameterValidationError, match="parameter 'count'") as caught:
        sized("many")  # type: ignore[call-overload]
    assert caught.value.parameter == "count"
    assert sized("3") == 3  # type: ignore[call-overload]  # coerced like Prefect

    failed = [c for c in changes(memory_events(memory_publisher)) if c.state.name == "Failed"]
    assert len(failed) == 1
    assert failed[0].state.message is not None
    assert "parameter 'count'" in failed[0].state.message
    assert [c.state.name for c in changes(memory_events(memory_publisher))][:2] == [
        "Pending",
        "Failed",
    ]


def test_a_call_that_cannot_bind_is_a_type_error_without_a_run(
    memory_publisher: BusThread,
) -> None:
    @flow
    def one(x: int) -> int:
        return x

    with pytest.raises(TypeError):
        one(1, 2)  # type: ignore[call-overload]
    assert memory_events(memory_publisher) == []


def test_a_subflow_is_a_child_run_linked_to_its_parent(memory_publisher: BusThread) -> None:
    @flow
    def child(x: int) -> int:
        return x + 1

    @flow
    def parent() -> int:
        return child(1) + child(2)

    assert parent() == 5
    runs = {c.run.id: c.run for c in changes(memory_events(memory_publisher))}
    flows = [r for r in runs.values() if isinstance(r, FlowRunSnapshot)]
    parents = [r for r in flows if r.flow_name == "parent"]
    children = [r for r in flows if r.flow_name == "child"]
    assert len(parents) == 1
    assert len(children) == 2
    assert all(c.parent_flow_run_id == parents[0].id for c in children)
    child_event = next(
        e for e in memory_events(memory_publisher) if e.resource.name == children[0].name
    )
    (parent_link,) = child_event.related_with_role("parent-flow-run")
    assert parent_link.id == f"proctor.flow-run.{parents[0].id}"


def test_a_custom_event_inside_a_flow_names_the_run(memory_publisher: BusThread) -> None:
    @flow
    def announcing() -> None:
        emit_event("shop.order.created", {"proctor.resource.id": "shop.order.1"})

    announcing()
    events = memory_events(memory_publisher)
    custom = next(e for e in events if e.event == "shop.order.created")
    run_id = changes(events)[0].run.id
    (run,) = custom.related_with_role("flow-run")
    assert run.id == f"proctor.flow-run.{run_id}"
    assert emit_event("shop.order.created", {"proctor.resource.id": "x"}) is not None


def test_a_custom_event_inside_a_task_names_the_task_run_and_its_flow_run(
    memory_publisher: BusThread,
) -> None:
    @task(task_run_name="announce-it")
    def announce() -> None:
        emit_event("shop.order.created", {"proctor.resource.id": "shop.order.1"})

    @flow
    def announcing() -> None:
        announce()

    announcing()
    events = memory_events(memory_publisher)
    custom = next(e for e in events if e.event == "shop.order.created")
    runs = {change.kind: change.run for change in changes(events)}
    (flow_run,) = custom.related_with_role("flow-run")
    (task_run,) = custom.related_with_role("task-run")
    assert flow_run.id == f"proctor.flow-run.{runs['flow-run'].id}"
    assert task_run.id == f"proctor.task-run.{runs['task-run'].id}"
    assert task_run.name == "announce-it"


def test_flow_retries_rerun_the_whole_flow(memory_publisher: BusThread) -> None:
    calls: list[int] = []

    @flow(retries=1)
    def shaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time")
        return len(calls)

    assert shaky() == 2
    run_id = changes(memory_events(memory_publisher))[0].run.id
    assert names_of(memory_events(memory_publisher), run_id) == [
        "Pending", "Running", "AwaitingRetry", "Retrying", "Completed",
    ]  # fmt: skip


def test_flow_names_and_run_names(memory_publisher: BusThread) -> None:
    @flow(flow_run_name="nightly-{day}")
    def my_nightly_job(day: str) -> str:
        return day

    assert my_nightly_job.name == "my-nightly-job"
    my_nightly_job("mon")
    assert changes(memory_events(memory_publisher))[0].run.name == "nightly-mon"
    renamed = my_nightly_job.with_options(name="renamed")
    assert renamed.name == "renamed"
    assert renamed("tue") == "tue"
