"""One trace from an emitted event to the tasks of the run it started, on a real local server
(embedded NATS, store, recorder, automation engine, API) with the deployment served in this
process: event producer → action → run request → flow run → task runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from proctor import Automation, RunDeployment, aemit_event, flow, on_event, task
from proctor.events.model import Event
from proctor.runtime.server import LocalServer
from tests.server.conftest import caught_up
from tests.tracing.conftest import SpanCollector, parent_id, span_id, trace_id, traceparent
from tests.webhooks.conftest import http, server

__all__ = ("http", "server")  # fixtures: a whole local server, and plain HTTP to it

pytestmark = pytest.mark.nats

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@task
def reserve(order: str) -> str:
    return f"reserved {order}"


@task
def charge(order: str) -> str:
    return f"charged {order}"


@flow(name="fulfil-order")
def fulfil(order: str) -> list[str]:
    return [reserve(order), charge(order)]


FULFIL_ORDERS = Automation(
    name="fulfil new orders",
    trigger=on_event("shop.order.created"),
    actions=[
        RunDeployment(
            deployment="fulfil-order/on-order", parameters={"order": "{{ event.payload.order }}"}
        )
    ],
)


@pytest.fixture
async def serving(server: LocalServer) -> AsyncIterator[None]:
    """``fulfil-order/on-order`` served by this process (its runs execute in threads here)."""
    assert server.bus is not None
    stop = asyncio.Event()
    started = await server.bus.subscribe("proctor.worker.started")
    task = asyncio.create_task(fulfil.aserve("on-order", stop=stop))
    try:
        async with started:
            await started.next(60)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if parent_id(s) == span_id(parent)]


@pytest.mark.usefixtures("serving")
async def test_an_emitted_event_and_the_run_it_starts_are_one_trace(
    server: LocalServer, spans: SpanCollector, http: httpx.AsyncClient
) -> None:
    assert server.bus is not None
    await FULFIL_ORDERS.aapply()
    async with await server.bus.subscribe("proctor.flow-run.Completed") as completed:
        with trace.get_tracer("shop").start_as_current_span("checkout") as checkout:
            emitted = await aemit_event(
                "shop.order.created",
                {"proctor.resource.id": "shop.order.42"},
                payload={"order": "42"},
            )
        done = await completed.next(60)
    assert done.payload["run"]["parameters"] == {"order": "42"}
    spans.wait_for(lambda found: sum(s.name.startswith("proctor.task-run") for s in found) == 2)
    spans.wait_for(lambda found: any(s.name == "proctor.flow-run fulfil-order" for s in found))

    finished = spans.finished
    emit = spans.one("proctor.emit shop.order.created")
    action = spans.one("proctor.action run-deployment")
    request = spans.one("proctor.run-request fulfil-order")
    run = spans.one("proctor.flow-run fulfil-order")
    tasks = [spans.one("proctor.task-run reserve"), spans.one("proctor.task-run charge")]
    # one trace, each step a child of the one before
    assert {trace_id(s) for s in [emit, action, request, run, *tasks]} == {trace_id(emit)}
    assert trace_id(emit) == f"{checkout.get_span_context().trace_id:032x}"
    assert parent_id(emit) == f"{checkout.get_span_context().span_id:016x}"
    assert parent_id(action) == span_id(emit)
    assert parent_id(request) == span_id(action)
    assert parent_id(run) == span_id(request)
    assert _children(finished, run) == tasks
    assert (emit.kind, action.kind, request.kind) == (
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.PRODUCER,
    )

    # what each span says
    assert emitted is not None
    assert emitted.traceparent == traceparent(emit)
    run_id = done.payload["run"]["id"]
    deployment_id = done.payload["run"]["deployment_id"]
    assert action.attributes is not None
    assert action.attributes["proctor.automation.name"] == "fulfil new orders"
    assert action.attributes["proctor.action.kind"] == "run-deployment"
    assert action.attributes["proctor.action.outcome"] == "executed"
    assert action.attributes["proctor.event.id"] == str(emitted.id)
    assert isinstance(action.attributes["proctor.firing.id"], str)
    for span in (request, run):
        assert span.attributes is not None
        assert span.attributes["proctor.flow_run.id"] == run_id
        assert span.attributes["proctor.deployment.id"] == deployment_id
        assert span.attributes["proctor.deployment.name"] == "on-order"
    assert request.attributes is not None
    assert request.attributes["messaging.system"] == "nats"
    assert request.attributes["proctor.run_request.created"] is True
    assert run.attributes is not None
    assert run.attributes["proctor.flow_run.state"] == "Completed"
    for span in tasks:
        assert span.attributes is not None
        assert span.attributes["proctor.flow_run.id"] == run_id

    # the events carry the trace, and keep it through the store and the API
    assert done.traceparent == traceparent(run)
    await caught_up(server)
    stored = (await http.get("/api/events", params={"names": "shop.order.created"})).json()
    assert [e["traceparent"] for e in stored["items"]] == [traceparent(emit)]
    runs = (
        await http.get("/api/events", params={"resource_ids": f"proctor.flow-run.{run_id}"})
    ).json()
    by_name = {e["event"]: e.get("traceparent") for e in runs["items"]}
    # requested and claimed by the runtime (under the request's span), then run by the engine
    assert by_name["proctor.flow-run.Scheduled"] == traceparent(request)
    assert by_name["proctor.flow-run.Pending"] == traceparent(request)
    assert by_name["proctor.flow-run.Running"] == traceparent(run)
    assert by_name["proctor.flow-run.Completed"] == traceparent(run)


async def test_an_event_posted_with_its_trace_context_keeps_it(
    server: LocalServer, http: httpx.AsyncClient
) -> None:
    event = Event.build(
        "shop.order.created", {"proctor.resource.id": "shop.order.7"}, traceparent=TRACEPARENT
    )
    posted = await http.post("/api/events", json=event.model_dump(mode="json"))
    assert posted.status_code == 201, posted.text
    assert server.bus is not None
    await caught_up(server)
    stored = (await http.get("/api/events?names=shop.order.created")).json()["items"]
    assert [e["traceparent"] for e in stored] == [TRACEPARENT]
    assert Event.model_validate(stored[0]) == event


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("not-a-traceparent", "is not a W3C traceparent"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "lowercase"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "must not be all zeros"),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff is invalid"),
    ],
)
async def test_a_malformed_trace_context_is_refused_naming_the_field(
    server: LocalServer, http: httpx.AsyncClient, bad: str, why: str
) -> None:
    event = {
        "event": "shop.order.created",
        "resource": {"proctor.resource.id": "shop.order.7"},
        "traceparent": bad,
    }
    answer = await http.post("/api/events", json=event)
    assert answer.status_code == 422
    assert "traceparent" in answer.text
    assert why in answer.text
    assert server.bus is not None
    await caught_up(server)
    assert (await http.get("/api/events?names=shop.order.created")).json()["items"] == []
