"""Carrying out actions: each action's executor, over the ports the runtime implements."""

from proctor.automations.execution.context import (
    ActionServices,
    EventPublisher,
    FiringContext,
    action_key,
    event_flow_run,
    event_flow_run_id,
)
from proctor.automations.execution.dispatch import execute

__all__ = (
    "ActionServices",
    "EventPublisher",
    "FiringContext",
    "action_key",
    "event_flow_run",
    "event_flow_run_id",
    "execute",
)
