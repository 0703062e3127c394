"""Actions: what an automation does when its trigger fires. A tagged union on ``type``."""

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from proctor.automations.actions.base import ActionBase
from proctor.automations.actions.control import PauseAutomation, ResumeAutomation
from proctor.automations.actions.messages import CallWebhook, EmitEvent, SendSlackMessage
from proctor.automations.actions.runs import (
    STATE_TYPES,
    CancelFlowRun,
    ChangeFlowRunState,
    PauseDeployment,
    ResumeDeployment,
    RetryFlowRun,
    RunDeployment,
)

__all__ = (
    "STATE_TYPES",
    "Action",
    "ActionBase",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "EmitEvent",
    "PauseAutomation",
    "PauseDeployment",
    "ResumeAutomation",
    "ResumeDeployment",
    "RetryFlowRun",
    "RunDeployment",
    "SendSlackMessage",
    "parse_action",
)

Action = Annotated[
    RunDeployment
    | RetryFlowRun
    | CancelFlowRun
    | ChangeFlowRunState
    | PauseDeployment
    | ResumeDeployment
    | PauseAutomation
    | ResumeAutomation
    | SendSlackMessage
    | CallWebhook
    | EmitEvent,
    Field(discriminator="type"),
]
"""Any action: a tagged union on ``type``."""

_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)


def parse_action(data: Any) -> Action:
    """An action from JSON text/bytes or plain data (``pydantic.ValidationError`` otherwise)."""
    if isinstance(data, str | bytes | bytearray):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)
