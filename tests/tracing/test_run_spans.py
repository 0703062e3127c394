"""Flow and task runs as spans: one span per run, parented the way the runs nest, and each
run's state events carrying its span's trace context."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from proctor import emit_event, flow, task
from proctor.core.tracing import current_traceparent
from proctor.events.emit import BusThread
from proctor.events.model import Event
from proctor.runtime.run_events import parse_state_change
from tests.flows.conftest import memory_events
from tests.tracing.conftest import SpanCollector, parent_id, span_id, trace_id, traceparent

pytestmark = pytest.mark.usefixtures("memory_publisher")


@task
def double(x: int) -> int:
    return 2 * x


@task
def leaky(token: str) -> None:
    raise ValueError(f"upstream said no to {token}")


@task
def outer_task() -> int:
    return double(5)


@flow
def child(n: int) -> int:
    return double(n)


@flow
def parent(n: int) -> int:
    futures = double.map(range(n))
    return sum(f.result() for f in futures) + child(10) + outer_task()


def test_runs_nest_as_their_spans_do_under_the_callers_span(spans: SpanCollector) -> None:
    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        assert parent(3) == 2 * (0 + 1 + 2) + 20 + 10
    top = spans.one("proctor.flow-run parent")
    sub = spans.one("proctor.flow-run child")
    nested = spans.one("proctor.task-run outer_task")
    doubles = spans.named("proctor.task-run double")
    assert parent_id(top) == f"{caller.get_span_context().span_id:016x}"
    assert parent_id(sub) == span_id(top)
    assert parent_id(nested) == span_id(top)
    by_parent = sorted(parent_id(s) or "" for s in doubles)
    # three mapped task runs of the flow, one in the subflow, one inside outer_task
    assert by_parent == sorted([span_id(top)] * 3 + [span_id(sub), span_id(nested)])
    assert {trace_id(s) for s in spans.finished} == {f"{caller.get_span_context().trace_id:032x}"}
    assert top.attributes is not None
    assert top.attributes["proctor.flow.name"] == "parent"
    assert top.attributes["proctor.flow_run.state"] == "Completed"
    assert sub.attributes is not None
    assert sub.attributes["proctor.flow_run.parent_id"] == top.attributes["proctor.flow_run.id"]
    assert nested.attributes is not None
    assert nested.attributes["proctor.flow_run.id"] == top.attributes["proctor.flow_run.id"]
    assert nested.attributes["proctor.task_run.state"] == "Completed"
    assert top.kind is SpanKind.INTERNAL


def test_each_state_event_carries_its_runs_span(
    spans: SpanCollector, memory_publisher: BusThread
) -> None:
    child(2)
    flow_span = spans.one("proctor.flow-run child")
    task_span = spans.one("proctor.task-run double")
    events = [e for e in memory_events(memory_publisher) if parse_state_change(e) is not None]
    assert len(events) == 6  # flow: Pending, Running, Completed; task: the same
    for event in events:
        expected = flow_span if event.event.startswith("proctor.flow-run.") else task_span
        assert event.traceparent == traceparent(expected)


def test_a_failed_task_is_an_error_span_naming_the_exceptions_type_not_its_message(
    spans: SpanCollector,
) -> None:
    @flow
    def fails() -> None:
        leaky("s3cr3t-token")

    with pytest.raises(ValueError):
        fails()
    failed = spans.one("proctor.task-run leaky")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "Failed"
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "ValueError"
    assert failed.attributes["proctor.task_run.state"] == "Failed"
    for span in spans.finished:
        assert "s3cr3t" not in str(span.to_json())
    assert spans.one("proctor.flow-run fails").status.status_code is StatusCode.ERROR


def test_retries_are_one_span_with_the_attempts_counted(spans: SpanCollector) -> None:
    attempts: list[int] = []

    @task(retries=2)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    @flow
    def retrying() -> str:
        return flaky()

    assert retrying() == "ok"
    span = spans.one("proctor.task-run flaky")
    assert span.attributes is not None
    assert span.attributes["proctor.task_run.run_count"] == 3
    assert span.status.status_code is StatusCode.UNSET


def test_async_flows_and_tasks_nest_the_same_way(spans: SpanCollector) -> None:
    @task
    async def sleepy(x: int) -> int:
        await asyncio.sleep(0)  # allow-sleep: an await point, nothing waited on
        return x

    @flow
    async def gathered() -> int:
        values = await asyncio.gather(sleepy(1), sleepy(2))
        submitted = sleepy.submit(3)
        return sum(values) + await submitted

    assert asyncio.run(gathered()) == 6
    top = spans.one("proctor.flow-run gathered")
    tasks = spans.named("proctor.task-run sleepy")
    assert len(tasks) == 3
    assert {parent_id(s) for s in tasks} == {span_id(top)}


def test_an_event_emitted_in_a_task_is_published_under_a_producer_span_of_it(
    spans: SpanCollector, memory_publisher: BusThread
) -> None:
    seen: list[str | None] = []

    @task
    def announce() -> None:
        seen.append(current_traceparent())
        emit_event("shop.order.packed", {"proctor.resource.id": "shop.order.7"})

    @flow
    def packing() -> None:
        announce()

    packing()
    task_span = spans.one("proctor.task-run announce")
    emit = spans.one("proctor.emit shop.order.packed")
    assert seen == [traceparent(task_span)]
    assert parent_id(emit) == span_id(task_span)
    assert emit.kind is SpanKind.PRODUCER
    assert emit.attributes is not None
    assert emit.attributes["messaging.system"] == "nats"
    custom = [e for e in memory_events(memory_publisher) if e.event == "shop.order.packed"]
    assert [e.traceparent for e in custom] == [traceparent(emit)]
    assert emit.attributes["messaging.message.id"] == str(custom[0].id)


def test_with_tracing_off_runs_make_no_spans_and_events_carry_no_trace_context(
    memory_publisher: BusThread,
) -> None:
    """(The session's provider is switched off here; test_untraced.py checks no provider.)"""
    child(1)
    emit_event("shop.order.packed", {"proctor.resource.id": "shop.order.8"})
    events: list[Event] = memory_events(memory_publisher)
    assert events
    assert all(e.traceparent is None for e in events)
    assert all(b"traceparent" not in e.to_wire() for e in events)
