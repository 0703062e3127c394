"""Automations: a trigger and the actions it runs when it fires.

This package holds the definitions (``Automation``, the actions, ``Throttle``) and, in
subpackages loaded on use, how actions are carried out (``proctor.automations.execution``)
and the engine that drives them (``proctor.automations.engine``).
"""

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
    parse_action,
)
from proctor.automations.definition import Automation, Throttle

__all__ = (
    "Action",
    "Automation",
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
    "Throttle",
    "parse_action",
)
