"""Triggers: when automations fire (event matches, thresholds, absence, compound, cron).

Definitions (``EventTrigger``, ``CompoundTrigger``, ``SequenceTrigger``, ``CronTrigger``,
``IntervalTrigger``, the ``Trigger`` union and the ``on_*`` helpers) are pydantic models that
round-trip through JSON. ``TriggerEvaluator`` turns events and clock ticks into ``Firing``s,
keeping window counts in a ``TriggerStateStore`` (in memory, or a JetStream KV bucket that
survives restarts). ``proctor.triggers.schedules`` holds the cron/interval maths the runtime's
scheduler shares.
"""

from proctor.triggers.definitions import (
    CompoundTrigger,
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    SequenceTrigger,
    Trigger,
    on_event,
    on_flow_completed,
    on_flow_failed,
    parse_trigger,
)
from proctor.triggers.evaluation import Tick, TriggerEvaluator
from proctor.triggers.firing import Firing, MissedSlots
from proctor.triggers.schedules import (
    CatchUp,
    CronSchedule,
    IntervalSchedule,
    SlotPlan,
    plan_slots,
    slot_id,
)
from proctor.triggers.state import (
    InMemoryTriggerStateStore,
    JetStreamTriggerStateStore,
    TriggerStateStore,
)
from proctor.triggers.where import Where, compile_where, event_document

__all__ = (
    "CatchUp",
    "CompoundTrigger",
    "CronSchedule",
    "CronTrigger",
    "EventTrigger",
    "Firing",
    "InMemoryTriggerStateStore",
    "IntervalSchedule",
    "IntervalTrigger",
    "JetStreamTriggerStateStore",
    "MissedSlots",
    "SequenceTrigger",
    "SlotPlan",
    "Tick",
    "Trigger",
    "TriggerEvaluator",
    "TriggerStateStore",
    "Where",
    "compile_where",
    "event_document",
    "on_event",
    "on_flow_completed",
    "on_flow_failed",
    "parse_trigger",
    "plan_slots",
    "slot_id",
)
