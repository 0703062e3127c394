"""Each action an automation carries out is a consumer span, a child of the span that produced
the firing's event; what it emits continues the trace. Failures are error spans without
secrets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from proctor.automations import EmitEvent, RunDeployment, SendSlackMessage
from proctor.automations.execution import execute
from proctor.automations.ports import RunHandle
from proctor.core.errors import ActionError
from proctor.core.tracing import current_traceparent
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from tests.automations.test_actions import Setup
from tests.tracing.conftest import SpanCollector, parent_id, trace_id, traceparent

REMOTE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
"""The span that produced the triggering event, in another process."""
SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cr3t"


def _order(traced: str | None = REMOTE) -> Event:
    return Event.build("shop.order.created", {ID_LABEL: "shop.order.42"}, traceparent=traced)


class _SeeingRuns:
    """Records the trace context current when a run is requested."""

    def __init__(self, setup: Setup) -> None:
        self.inner = setup.runs
        self.seen: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def run_deployment(self, deployment: str, **kwargs: Any) -> RunHandle:
        self.seen.append(current_traceparent())
        return await self.inner.run_deployment(deployment, **kwargs)


async def test_an_action_is_a_consumer_span_under_the_events_producer(
    spans: SpanCollector,
) -> None:
    setup = Setup()
    runs = _SeeingRuns(setup)
    setup.services = dataclasses.replace(setup.services, runs=runs)
    ctx = setup.context(_order())
    detail = await execute(RunDeployment(deployment="etl/nightly"), ctx, 2)
    span = spans.one("proctor.action run-deployment")
    assert span.kind is SpanKind.CONSUMER
    assert trace_id(span) == REMOTE.split("-")[1]
    assert parent_id(span) == REMOTE.split("-")[2]
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "proctor.automation.id": "a1",
        "proctor.automation.name": "under test",
        "proctor.action.kind": "run-deployment",
        "proctor.action.index": 2,
        "proctor.firing.id": str(ctx.firing.id),
        "proctor.firing.kind": "reactive",
        "proctor.event.id": str(ctx.event.id if ctx.event else None),
        "proctor.event.name": "shop.order.created",
        "proctor.action.outcome": "executed",
    }
    assert runs.seen == [traceparent(span)]  # the run request is made under the action's span
    assert detail["created"] is True


async def test_a_failed_action_is_an_error_span_with_its_reason(spans: SpanCollector) -> None:
    setup = Setup()
    with pytest.raises(ActionError, match="no deployment"):
        await execute(RunDeployment(deployment="etl/missing"), setup.context(_order()), 0)
    span = spans.one("proctor.action run-deployment")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "no deployment 'etl/missing'"
    assert span.attributes is not None
    assert span.attributes["proctor.action.outcome"] == "failed"
    assert span.attributes["proctor.action.reason"] == "deployment_not_found"
    assert span.attributes["proctor.action.retryable"] is False
    assert span.attributes["error.type"] == "ActionError"


async def test_an_unexpected_failure_records_only_the_exceptions_type(
    spans: SpanCollector,
) -> None:
    setup = Setup()

    class BrokenSlack:
        async def send(self, webhook_url: Any, message: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"connection refused: {SLACK_URL}")

    setup.services = dataclasses.replace(setup.services, slack=BrokenSlack())
    action = SendSlackMessage(webhook_url=SLACK_URL, text="an order came in")
    with pytest.raises(RuntimeError):
        await execute(action, setup.context(_order()), 0)
    span = spans.one("proctor.action send-slack-message")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["proctor.action.outcome"] == "failed"
    assert "s3cr3t" not in span.to_json()
    assert "hooks.slack.com" not in span.to_json()


async def test_an_emitted_event_continues_the_trace_from_the_action(
    spans: SpanCollector,
) -> None:
    setup = Setup()
    action = EmitEvent(event="shop.order.checked", resource={ID_LABEL: "shop.order.42"})
    await execute(action, setup.context(_order()), 0)
    span = spans.one("proctor.action emit-event")
    emitted = [e for e in setup.bus.events if e.event == "shop.order.checked"]
    assert [e.traceparent for e in emitted] == [traceparent(span)]


async def test_a_schedules_action_starts_a_trace_of_its_own(spans: SpanCollector) -> None:
    setup = Setup()
    await execute(RunDeployment(deployment="etl/nightly"), setup.context(None, "schedule"), 0)
    span = spans.one("proctor.action run-deployment")
    assert span.parent is None
    assert span.attributes is not None
    assert "proctor.event.id" not in span.attributes


@pytest.mark.usefixtures("_switch")
async def test_untraced_the_triggering_events_context_is_passed_on() -> None:
    """Tracing off here (no spans), yet what the action emits stays in the event's trace."""
    setup = Setup()
    action = EmitEvent(event="shop.order.checked", resource={ID_LABEL: "shop.order.42"})
    await execute(action, setup.context(_order()), 0)
    emitted = [e for e in setup.bus.events if e.event == "shop.order.checked"]
    assert [e.traceparent for e in emitted] == [REMOTE]
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached
