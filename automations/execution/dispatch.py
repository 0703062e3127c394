"""``execute(action, ctx, index)``: carry out one action, as an ``ActionError`` if it fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
    try:
        return await _EXECUTORS[type(action)](action, ctx, index)
    except TemplateError as error:
        raise ActionError(str(error), reason="template_error") from None
    except DeliveryError as error:
        raise ActionError(str(error), reason=error.reason, retryable=error.retryable) from None
    except ConfigurationError as error:
        raise ActionError(str(error), reason="invalid_configuration") from None
