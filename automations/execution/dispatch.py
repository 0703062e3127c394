"""``execute(action, ctx, index)``: carry out one action, as an ``ActionError`` if it fails.

When traced, each execution is a consumer span ``proctor.action <kind>``, a child of the span
that produced the firing's event (its ``traceparent``); what the action starts (a run request,
an emitted event) continues that trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.trace import Span, SpanKind

from proctor.automations.actions import (
    Action,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    EmitEvent,
    PauseAutomation,
    PauseDeployment,
    ResumeAutomation,
    ResumeDeployment,
    RetryFlowRun,
    RunDeployment,
    SendSlackMessage,
)
from proctor.automations.execution import messages, runs
from proctor.automations.execution.context import FiringContext
from proctor.core.errors import ActionError, ConfigurationError, DeliveryError, TemplateError
from proctor.core.tracing import Attributes, mark_error, traced

__all__ = ("execute",)

Detail = dict[str, Any]
Executor = Callable[[Any, FiringContext, int], Awaitable[Detail]]

_EXECUTORS: dict[type[Any], Executor] = {
    RunDeployment: runs.run_deployment,
    RetryFlowRun: runs.retry_flow_run,
    CancelFlowRun: runs.cancel_flow_run,
    ChangeFlowRunState: runs.change_flow_run_state,
    PauseDeployment: runs.pause_deployment,
    ResumeDeployment: runs.resume_deployment,
    PauseAutomation: runs.pause_automation,
    ResumeAutomation: runs.resume_automation,
    SendSlackMessage: messages.send_slack_message,
    CallWebhook: messages.call_webhook,
    EmitEvent: messages.emit_event,
}


async def execute(action: Action, ctx: FiringContext, index: int) -> Detail:
    """Carry out action ``index`` of the firing; what it did, as plain data without secrets.

    Every expected failure is an ``ActionError`` with a ``reason`` and ``retryable``.
    """
    parent = ctx.event.traceparent if ctx.event is not None else None
    name = f"proctor.action {action.kind}"
    failed: ActionError | None = None
    with traced(
        name, kind=SpanKind.CONSUMER, attributes=_attributes(action, ctx, index), parent=parent
    ) as span:
        try:
            detail = await _execute(action, ctx, index)
        except ActionError as error:  # raised below, once its span has ended as it should
            failed = error
        except Exception:  # its span records only the exception's type
            if span is not None:
                span.set_attribute("proctor.action.outcome", "failed")
            raise
        if span is not None:
            _outcome(span, failed)
    if failed is not None:
        raise failed
    return detail


def _outcome(span: Span, failed: ActionError | None) -> None:
    if failed is None:
        span.set_attribute("proctor.action.outcome", "executed")
        return
    span.set_attributes(
        {
            "proctor.action.outcome": "failed",
            "proctor.action.reason": failed.reason,
            "proctor.action.retryable": failed.retryable,
        }
    )
    mark_error(span, str(failed), type(failed).__qualname__)  # its message holds no secret


def _attributes(action: Action, ctx: FiringContext, index: int) -> Attributes:
    attributes: dict[str, Any] = {
        "proctor.automation.id": ctx.automation_id,
        "proctor.automation.name": ctx.automation_name,
        "proctor.action.kind": action.kind,
        "proctor.action.index": index,
        "proctor.firing.id": str(ctx.firing.id),
        "proctor.firing.kind": ctx.firing.kind,
    }
    if ctx.event is not None:
        attributes["proctor.event.id"] = str(ctx.event.id)
        attributes["proctor.event.name"] = ctx.event.event
    return attributes


async def _execute(action: Action, ctx: FiringContext, index: int) -> Detail:
    try:
        return await _EXECUTORS[type(action)](action, ctx, index)
    except TemplateError as error:
        raise ActionError(str(error), reason="template_error") from None
    except DeliveryError as error:
        raise ActionError(str(error), reason=error.reason, retryable=error.retryable) from None
    except ConfigurationError as error:
        raise ActionError(str(error), reason="invalid_configuration") from None
