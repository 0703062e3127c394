"""The automation engine inside the runtime: the store-backed registry of automations
(and of the automations deployments' schedules own), ``RunControl`` over the run plane, the
wall clock, and ``AutomationService``, the server service that runs the engine."""

from proctor.runtime.automation_service.clock import SystemEngineClock
from proctor.runtime.automation_service.registry import (
    CHANGED,
    AutomationRegistry,
    StoredAutomation,
    info_of,
)
from proctor.runtime.automation_service.runs import RuntimeRunControl, run_id_for
from proctor.runtime.automation_service.schedules import (
    OWNER_PREFIX,
    deployment_owner,
    schedule_automations,
    schedule_trigger,
)
from proctor.runtime.automation_service.service import (
    AutomationService,
    AutomationServiceOptions,
    automation_service,
)

__all__ = (
    "CHANGED",
    "OWNER_PREFIX",
    "AutomationRegistry",
    "AutomationService",
    "AutomationServiceOptions",
    "RuntimeRunControl",
    "StoredAutomation",
    "SystemEngineClock",
    "automation_service",
    "deployment_owner",
    "info_of",
    "run_id_for",
    "schedule_automations",
    "schedule_trigger",
)
