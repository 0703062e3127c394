"""Carrying out the actions that send something: Slack, outgoing webhooks, events."""

from __future__ import annotations

import uuid
from typing import Any

from proctor.automations.actions import CallWebhook, EmitEvent, SendSlackMessage
from proctor.automations.delivery import DeliveryOutcome
from proctor.automations.execution.context import ACTION_NAMESPACE, FiringContext
from proctor.automations.slack import FlowRunAlert, SlackMessage, flow_run_alert_message
from proctor.core.errors import ActionError, EventError
from proctor.core.tracing import current_traceparent
from proctor.events.model import Event

__all__ = ("call_webhook", "emit_event", "send_slack_message")

Detail = dict[str, Any]


def _raise_unless_delivered(outcome: DeliveryOutcome, what: str) -> Detail:
    if not outcome.delivered:
        status = f" (HTTP {outcome.status})" if outcome.status is not None else ""
        raise ActionError(
            f"{what} not delivered after {outcome.attempts} attempt(s): {outcome.reason}{status}",
            reason=outcome.reason,
            retryable=outcome.retryable,
        )
    return {"status": outcome.status, "attempts": outcome.attempts, "duplicate": outcome.duplicate}


async def _slack_message(action: SendSlackMessage, ctx: FiringContext) -> SlackMessage:
    if action.text is None and action.blocks is None:
        run = await ctx.flow_run()
        if run is None:
            what = ctx.event.event if ctx.event is not None else ctx.firing.kind
            return SlackMessage(text=f"Automation {ctx.automation_name} fired ({what})")
        logs = await ctx.services.runs.flow_run_logs(run.id, limit=ctx.services.log_lines)
        alert = FlowRunAlert(
            flow_name=run.flow_name,
            run_name=run.name,
            run_id=str(run.id),
            state_name=run.state_name or "Unknown",
            state_type=run.state_type or "FAILED",
            deployment_name=run.deployment_name,
            message=run.state_message,
            log_lines=tuple(logs),
            run_url=ctx.services.runs.flow_run_url(run.id),
        )
        return flow_run_alert_message(alert)
    context = await ctx.template_context(action.variables)
    text = action.render("text", context) if action.text is not None else None
    blocks = action.render("blocks", context) if action.blocks is not None else None
    fallback = f"Automation {ctx.automation_name} fired"
    return SlackMessage(text=str(text) if text else fallback, blocks=tuple(blocks or ()))


async def send_slack_message(action: SendSlackMessage, ctx: FiringContext, index: int) -> Detail:
    message = await _slack_message(action, ctx)
    outcome = await ctx.services.slack.send(
        action.webhook_url, message, idempotency_key=ctx.key(index)
    )
    return _raise_unless_delivered(outcome, "Slack message")


async def call_webhook(action: CallWebhook, ctx: FiringContext, index: int) -> Detail:
    context = await ctx.template_context(action.variables)
    body = action.render("body", context) if action.body is not None else ctx.summary()
    headers = {key: str(value) for key, value in action.render("headers", context).items()}
    outcome = await ctx.services.webhooks.send(
        action.url,
        message_id=ctx.key(index),
        now=ctx.now,
        body=body,
        method=action.method,
        headers=headers,
        secret=action.secret,
    )
    return _raise_unless_delivered(outcome, "webhook call")


async def emit_event(action: EmitEvent, ctx: FiringContext, index: int) -> Detail:
    context = await ctx.template_context(action.variables)
    try:
        event = Event.build(
            str(action.render("event", context)),
            {key: str(value) for key, value in action.render("resource", context).items()},
            payload=action.render("payload", context),
            related=[
                {key: str(value) for key, value in labels.items()}
                for labels in action.render("related", context)
            ],
            id=uuid.uuid5(ACTION_NAMESPACE, ctx.key(index)),
            caused_by=ctx.triggered_id,
            hops=ctx.hops + 1,
            traceparent=current_traceparent(),
        )
    except EventError as error:
        raise ActionError(
            f"{action.kind}: the event is invalid: {error}", reason="invalid_event"
        ) from None
    receipt = await ctx.services.publisher.publish(event)
    return {"event_id": str(event.id), "event": event.event, "duplicate": receipt.duplicate}
