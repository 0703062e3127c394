"""Setting up the SDK from the standard environment, and a worker's run process exporting its
spans over OTLP/HTTP, continuing the trace of the run's request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from opentelemetry import trace

from proctor.core.errors import ConfigurationError
from proctor.core.tracing_setup import configure_tracing, wanted_exporters
from proctor.events.bus.consumer import DurableConsumer
from proctor.events.ids import uuid7
from proctor.events.model import Event
from proctor.runtime.orchestration import RunJob, RunPlane, submit_run
from proctor.runtime.run_events import FlowRunSnapshot
from tests.runtime.conftest import running_workers
from tests.tracing.conftest import SpanCollector, span_id, trace_id
from tests.tracing.otlp_receiver import ReceivedSpan, otlp_receiver


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "shop"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_traces_are_on_only_when_the_environment_asks_for_them(
    environ: dict[str, str], wanted: list[str]
) -> None:
    assert wanted_exporters(environ) == wanted


def test_an_exporter_that_is_not_installed_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER: no span exporter 'zipkin'"):
        configure_tracing("proctor-test", {"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.mark.usefixtures("_switch")
def test_a_provider_the_program_set_is_left_alone() -> None:
    before = trace.get_tracer_provider()
    assert configure_tracing("proctor-test", {"OTEL_TRACES_EXPORTER": "console"}) is None
    assert trace.get_tracer_provider() is before


def test_with_nothing_asked_nothing_is_set_up() -> None:
    assert configure_tracing("proctor-test", {}) is None


async def _completed(consumer: DurableConsumer, run_id: UUID) -> Event:
    """The run's Completed event, as stored."""
    async with asyncio.timeout(60):
        while True:
            deliveries = await consumer.fetch(100, timeout_s=1.0)
            await consumer.ack(deliveries)
            for event in (d.decode() for d in deliveries):
                if event.event == "proctor.flow-run.Completed" and str(run_id) in event.resource.id:
                    return event


@pytest.mark.nats
async def test_a_run_process_exports_its_spans_under_the_run_request(
    plane: RunPlane, spans: SpanCollector
) -> None:
    """The run's process is a fork of the worker's fork server: it sets up tracing from its
    deployment's env (OTLP over HTTP here) and exports its spans before it exits."""
    consumer = await plane.bus.durable_consumer("trace-feed", "proctor.flow-run.*")
    run = FlowRunSnapshot(
        id=uuid7(),
        name="traced-run",
        flow_name="pipeline",
        deployment_id=uuid7(),
        deployment_name="nightly",
        work_pool="pool",
        work_queue="default",
        parameters={"n": 4},
    )
    with otlp_receiver() as receiver:
        job = RunJob(
            entrypoint="flows_for_tracing.py:pipeline",
            working_dir=str(Path(__file__).parent),
            work_pool="pool",
            parameters={"n": 4},
            env={
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "shop-etl",
            },
        )
        try:
            with trace.get_tracer("test").start_as_current_span("nightly batch"):
                await submit_run(plane, run, job)
            async with running_workers(plane):
                completed = await _completed(consumer, run.id)
        finally:
            await consumer.close()
        received = receiver.wait_for(lambda found: len(found) >= 3)

    request = spans.one("proctor.run-request pipeline")
    by_name: dict[str, ReceivedSpan] = {s.name: s for s in received}
    assert sorted(by_name) == [
        "proctor.flow-run pipeline",
        "proctor.task-run extract",
        "proctor.task-run load",
    ]
    flow_span = by_name["proctor.flow-run pipeline"]
    assert (flow_span.trace_id, flow_span.parent_id) == (trace_id(request), span_id(request))
    assert flow_span.service == "shop-etl"
    assert flow_span.attributes["proctor.flow_run.id"] == str(run.id)
    assert flow_span.attributes["proctor.deployment.name"] == "nightly"
    assert flow_span.attributes["proctor.flow_run.state"] == "Completed"
    for name in ("proctor.task-run extract", "proctor.task-run load"):
        assert (by_name[name].trace_id, by_name[name].parent_id) == (
            trace_id(request),
            flow_span.span_id,
        )
    assert completed.traceparent is not None
    assert completed.traceparent.rsplit("-", 1)[0] == f"00-{flow_span.trace_id}-{flow_span.span_id}"
