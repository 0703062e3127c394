"""Carrying out the actions on runs, deployments and automations."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from proctor.automations.actions import (
    CancelFlowRun,
    ChangeFlowRunState,
    PauseAutomation,
    PauseDeployment,
    ResumeAutomation,
    ResumeDeployment,
    RetryFlowRun,
    RunDeployment,
)
from proctor.automations.execution.context import FiringContext
from proctor.core.errors import ActionError

__all__ = (
    "cancel_flow_run",
    "change_flow_run_state",
    "pause_automation",
    "pause_deployment",
    "resume_automation",
    "resume_deployment",
    "retry_flow_run",
    "run_deployment",
)

Detail = dict[str, Any]
_RETRYABLE_STATES = ("FAILED", "CRASHED")


async def run_deployment(action: RunDeployment, ctx: FiringContext, index: int) -> Detail:
    deployment = action.deployment or await ctx.event_deployment(action.kind)
    parameters = action.render("parameters", await ctx.template_context(action.variables))
    scheduled = ctx.firing.occurred if ctx.firing.kind == "schedule" else None
    handle = await ctx.services.runs.run_deployment(
        deployment,
        parameters=parameters,
        idempotency_key=ctx.key(index),
        scheduled_time=scheduled,
        tags=action.tags,
        caused_by=ctx.triggered_id,
    )
    return {"flow_run_id": str(handle.flow_run_id), "created": handle.created}


async def retry_flow_run(action: RetryFlowRun, ctx: FiringContext, index: int) -> Detail:
    run = await ctx.require_flow_run(action.kind)
    if run.state_type not in _RETRYABLE_STATES:
        raise ActionError(
            f"{action.kind}: flow run {run.id} is {run.state_name or run.state_type}, not "
            "failed or crashed; trigger this action with on_flow_failed()",
            reason="not_failed",
        )
    if run.deployment_id is None:
        raise ActionError(
            f"{action.kind}: flow run {run.id} was not started from a deployment (a script "
            "run directly has nothing a worker could start again); deploy the flow",
            reason="not_deployed",
        )
    attempts = await _attempts(ctx, run.retry_of, action.max_attempts)
    if attempts >= action.max_attempts:
        raise ActionError(
            f"{action.kind}: flow run {run.id} is attempt {attempts} of {action.max_attempts}; "
            "no attempts are left",
            reason="attempts_exhausted",
        )
    scheduled = ctx.now + action.delay if action.delay else None
    handle = await ctx.services.runs.run_deployment(
        str(run.deployment_id),
        parameters=run.parameters,
        idempotency_key=ctx.key(index),
        scheduled_time=scheduled,
        retry_of=run.id,
        tags=run.tags,
        caused_by=ctx.triggered_id,
    )
    return {
        "flow_run_id": str(handle.flow_run_id),
        "retry_of": str(run.id),
        "attempt": attempts + 1,
        "max_attempts": action.max_attempts,
        "created": handle.created,
    }


async def _attempts(ctx: FiringContext, retry_of: UUID | None, limit: int) -> int:
    """How many runs the failed one's retry chain holds, itself included (up to ``limit``)."""
    attempts, previous = 1, retry_of
    while previous is not None and attempts < limit:
        attempts += 1
        earlier = await ctx.services.runs.read_flow_run(previous)
        previous = earlier.retry_of if earlier is not None else None
    return attempts


async def _target_run(
    action: CancelFlowRun | ChangeFlowRunState, ctx: FiringContext, variables: frozenset[str]
) -> UUID:
    if action.flow_run is None:
        return (await ctx.require_flow_run(action.kind)).id
    value = action.render("flow_run", await ctx.template_context(variables))
    try:
        return UUID(str(value))
    except ValueError:
        raise ActionError(
            f"{action.kind}: flow_run rendered to {str(value)[:60]!r}, which is not a run id",
            reason="invalid_flow_run",
        ) from None


async def cancel_flow_run(action: CancelFlowRun, ctx: FiringContext, index: int) -> Detail:
    run_id = await _target_run(action, ctx, action.variables)
    await ctx.services.runs.cancel_flow_run(run_id, idempotency_key=ctx.key(index))
    return {"flow_run_id": str(run_id)}


async def change_flow_run_state(
    action: ChangeFlowRunState, ctx: FiringContext, index: int
) -> Detail:
    run_id = await _target_run(action, ctx, action.variables)
    message = None
    if action.message is not None:
        message = str(action.render("message", await ctx.template_context(action.variables)))
    await ctx.services.runs.set_flow_run_state(
        run_id,
        state_type=action.state,
        state_name=action.name,
        message=message,
        idempotency_key=ctx.key(index),
    )
    return {"flow_run_id": str(run_id), "state": action.name or action.state}


async def pause_deployment(action: PauseDeployment, ctx: FiringContext, index: int) -> Detail:
    deployment = action.deployment or await ctx.event_deployment(action.kind)
    await ctx.services.runs.pause_deployment(deployment)
    return {"deployment": deployment}


async def resume_deployment(action: ResumeDeployment, ctx: FiringContext, index: int) -> Detail:
    deployment = action.deployment or await ctx.event_deployment(action.kind)
    await ctx.services.runs.resume_deployment(deployment)
    return {"deployment": deployment}


async def pause_automation(action: PauseAutomation, ctx: FiringContext, index: int) -> Detail:
    target = action.automation or ctx.automation_id
    reason = f"paused by automation {ctx.automation_name!r} (firing {ctx.firing.id})"
    await ctx.services.automations.pause_automation(target, reason=reason)
    return {"automation": target}


async def resume_automation(action: ResumeAutomation, ctx: FiringContext, index: int) -> Detail:
    await ctx.services.automations.resume_automation(action.automation)
    return {"automation": action.automation}
