"""The automation engine: durable consumers over the event stream, the trigger evaluator,
guards (loop, debounce, throttle), and the actions' runner. Built from ports: see
``AutomationEngine``."""

from proctor.automations.engine.catalog import (
    AutomationSource,
    InMemoryAutomations,
    LoadedAutomation,
)
from proctor.automations.engine.clock import EngineClock, ManualClock
from proctor.automations.engine.engine import AutomationEngine, EngineStats
from proctor.automations.engine.guards import Guards, throttle_step
from proctor.automations.engine.kv import InMemoryKeyValue, JetStreamKeyValue, KeyValueStore
from proctor.automations.engine.options import EngineOptions
from proctor.automations.engine.reports import (
    ACTION_EXECUTED,
    ACTION_FAILED,
    SLOTS_MISSED,
    STOPPED,
    SUPPRESSED,
    TRIGGERED,
)

__all__ = (
    "ACTION_EXECUTED",
    "ACTION_FAILED",
    "SLOTS_MISSED",
    "STOPPED",
    "SUPPRESSED",
    "TRIGGERED",
    "AutomationEngine",
    "AutomationSource",
    "EngineClock",
    "EngineOptions",
    "EngineStats",
    "Guards",
    "InMemoryAutomations",
    "InMemoryKeyValue",
    "JetStreamKeyValue",
    "KeyValueStore",
    "LoadedAutomation",
    "ManualClock",
    "throttle_step",
)
