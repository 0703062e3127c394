"""Proctor: event-driven automation for Python.

``from proctor import flow, task, get_run_logger, emit_event``. Automations join this surface as
they land; ``tests/unit/test_public_api.py`` pins it. Heavy modules (nats-py, pydantic-settings)
load on first use, so ``import proctor`` stays fast.
"""

from typing import TYPE_CHECKING, Any

from proctor.core.errors import (
    BrokerUnavailableError,
    BusError,
    ConfigurationError,
    EventError,
    EventTooLargeError,
    InvalidStateTransitionError,
    MissingContextError,
    ParameterValidationError,
    ProctorError,
    RunError,
    RunTimeoutError,
    UpstreamFailedError,
)
from proctor.events import (
    Event,
    RelatedResource,
    Resource,
    ResourceSpecification,
    aemit_event,
    emit_event,
)
from proctor.runtime.engine import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    FakeClock,
    Flow,
    FlowRunContext,
    Late,
    Paused,
    Pending,
    Retrying,
    Running,
    Scheduled,
    State,
    StateType,
    Task,
    TaskRunContext,
    TaskRunFuture,
    TaskRunFutureList,
    TimedOut,
    exponential_backoff,
    flow,
    get_run_context,
    get_run_logger,
    task,
    unmapped,
    use_clock,
)

if TYPE_CHECKING:
    from proctor.automation import Automation
    from proctor.automations.actions import (
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
    from proctor.automations.definition import Throttle
    from proctor.core.settings import ProctorSettings
    from proctor.runtime.deployments.models import Cron, Interval
    from proctor.runtime.deployments.python_api import arun_deployment, run_deployment
    from proctor.runtime.webhooks.presets import WebhookPreset
    from proctor.triggers.definitions import (
        CompoundTrigger,
        CronTrigger,
        EventTrigger,
        IntervalTrigger,
        SequenceTrigger,
        on_event,
        on_flow_completed,
        on_flow_failed,
    )
    from proctor.triggers.schedules import CatchUp
    from proctor.webhook import Webhook

__version__ = "0.1.0"

__all__ = (
    "Automation",
    "AwaitingRetry",
    "BrokerUnavailableError",
    "BusError",
    "Cached",
    "CallWebhook",
    "CancelFlowRun",
    "Cancelled",
    "Cancelling",
    "CatchUp",
    "ChangeFlowRunState",
    "Completed",
    "CompoundTrigger",
    "ConfigurationError",
    "Crashed",
    "Cron",
    "CronTrigger",
    "EmitEvent",
    "Event",
    "EventError",
    "EventTooLargeError",
    "EventTrigger",
    "Failed",
    "FakeClock",
    "Flow",
    "FlowRunContext",
    "Interval",
    "IntervalTrigger",
    "InvalidStateTransitionError",
    "Late",
    "MissingContextError",
    "ParameterValidationError",
    "PauseAutomation",
    "PauseDeployment",
    "Paused",
    "Pending",
    "ProctorError",
    "ProctorSettings",
    "RelatedResource",
    "Resource",
    "ResourceSpecification",
    "ResumeAutomation",
    "ResumeDeployment",
    "RetryFlowRun",
    "Retrying",
    "RunDeployment",
    "RunError",
    "RunTimeoutError",
    "Running",
    "Scheduled",
    "SendSlackMessage",
    "SequenceTrigger",
    "State",
    "StateType",
    "Task",
    "TaskRunContext",
    "TaskRunFuture",
    "TaskRunFutureList",
    "Throttle",
    "TimedOut",
    "UpstreamFailedError",
    "Webhook",
    "WebhookPreset",
    "__version__",
    "aemit_event",
    "arun_deployment",
    "emit_event",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "on_event",
    "on_flow_completed",
    "on_flow_failed",
    "run_deployment",
    "task",
    "unmapped",
    "use_clock",
)


_LAZY = {
    "Automation": "proctor.automation",
    "Throttle": "proctor.automations.definition",
    "CatchUp": "proctor.triggers.schedules",
    "Webhook": "proctor.webhook",
    "WebhookPreset": "proctor.runtime.webhooks.presets",
    "Cron": "proctor.runtime.deployments.models",
    "Interval": "proctor.runtime.deployments.models",
    "run_deployment": "proctor.runtime.deployments.python_api",
    "arun_deployment": "proctor.runtime.deployments.python_api",
    **dict.fromkeys(
        (
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
        ),
        "proctor.automations.actions",
    ),
    **dict.fromkeys(
        (
            "CompoundTrigger",
            "CronTrigger",
            "EventTrigger",
            "IntervalTrigger",
            "SequenceTrigger",
            "on_event",
            "on_flow_completed",
            "on_flow_failed",
        ),
        "proctor.triggers.definitions",
    ),
}
"""Names loaded on first use: automations and triggers (jinja2, croniter, jsonpath) would make
``import proctor`` several times slower."""


def __getattr__(name: str) -> Any:
    if name == "ProctorSettings":
        from proctor.core.settings import ProctorSettings

        return ProctorSettings
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
