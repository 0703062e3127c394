"""Trigger definitions: pydantic models that serialise to JSON and round-trip exactly."""

from proctor.triggers.definitions.composite import (
    MAX_DEPTH,
    MAX_TRIGGERS,
    CompoundTrigger,
    SequenceTrigger,
    Trigger,
    parse_trigger,
    walk,
)
from proctor.triggers.definitions.events import EventTrigger
from proctor.triggers.definitions.helpers import (
    FLOW_RUN_COMPLETED_STATES,
    FLOW_RUN_EVENT_PREFIX,
    FLOW_RUN_FAILED_STATES,
    on_event,
    on_flow_completed,
    on_flow_failed,
)
from proctor.triggers.definitions.schedules import CronTrigger, IntervalTrigger

__all__ = (
    "FLOW_RUN_COMPLETED_STATES",
    "FLOW_RUN_EVENT_PREFIX",
    "FLOW_RUN_FAILED_STATES",
    "MAX_DEPTH",
    "MAX_TRIGGERS",
    "CompoundTrigger",
    "CronTrigger",
    "EventTrigger",
    "IntervalTrigger",
    "SequenceTrigger",
    "Trigger",
    "on_event",
    "on_flow_completed",
    "on_flow_failed",
    "parse_trigger",
    "walk",
)
