"""Pins the public surface: a change here is a change users see."""

from __future__ import annotations

import proctor
import proctor.events


def test_proctor_exports() -> None:
    assert set(proctor.__all__) == {
        "BrokerUnavailableError",
        "BusError",
        "ConfigurationError",
        "Event",
        "EventError",
        "EventTooLargeError",
        "ProctorError",
        "ProctorSettings",
        "RelatedResource",
        "Resource",
        "ResourceSpecification",
        "__version__",
        "aemit_event",
        "emit_event",
        # flows and tasks
        "flow", "task", "Flow", "Task", "get_run_logger", "get_run_context", "FlowRunContext",
        "TaskRunContext", "State",
        "StateType", "Scheduled", "Late", "AwaitingRetry", "Pending", "Running", "Retrying",
        "Completed", "Cached", "Failed", "TimedOut", "Crashed", "Cancelling", "Cancelled",
        "Paused", "TaskRunFuture", "TaskRunFutureList", "unmapped", "exponential_backoff",
        "FakeClock", "use_clock", "RunError", "ParameterValidationError", "RunTimeoutError",
        "UpstreamFailedError", "MissingContextError", "InvalidStateTransitionError",
        # automations: the definition, triggers and their helpers, actions
        "Automation", "Throttle", "EventTrigger", "CompoundTrigger", "SequenceTrigger",
        "CronTrigger", "IntervalTrigger", "CatchUp", "on_flow_failed", "on_flow_completed",
        "on_event", "RunDeployment", "RetryFlowRun", "SendSlackMessage", "CallWebhook",
        "CancelFlowRun", "ChangeFlowRunState", "PauseAutomation", "ResumeAutomation",
        "PauseDeployment", "ResumeDeployment", "EmitEvent",
        # webhooks
        "Webhook", "WebhookPreset",
        # deployments
        "Cron", "Interval", "run_deployment", "arun_deployment",
    }  # fmt: skip


def test_events_exports() -> None:
    assert set(proctor.events.__all__) == {
        "ID_LABEL", "MAX_EVENT_BYTES", "MAX_PAYLOAD_BYTES", "NAME_LABEL", "ROLE_LABEL",
        "BusThread", "EmbeddedNats", "Event", "EventBus", "EventName", "EventStreamConfig",
        "EventSubscription", "InMemoryEventBus", "JetStreamEventBus", "NameFilter", "Naming",
        "NatsLimits", "PublishReceipt", "RelatedResource", "Resource", "ResourceSpecification",
        "StreamStats", "aemit_event", "emit_event", "use_publisher", "uuid7",
        "validate_event_name",
    }  # fmt: skip


def test_every_exported_name_exists() -> None:
    for module in (proctor, proctor.events):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_automations_load_on_first_use_and_are_the_real_objects() -> None:
    import proctor.automations
    import proctor.triggers

    assert proctor.on_flow_failed is proctor.triggers.on_flow_failed
    assert proctor.RunDeployment is proctor.automations.RunDeployment
    assert issubclass(proctor.Automation, proctor.automations.Automation)


def test_deployments_load_on_first_use_and_are_the_real_objects() -> None:
    import proctor.runtime.deployments.python_api

    assert proctor.run_deployment is proctor.runtime.deployments.python_api.run_deployment
    assert proctor.Cron("@daily").cron == "@daily"


def test_webhooks_load_on_first_use_and_are_the_real_objects() -> None:
    import proctor.runtime.webhooks

    assert proctor.WebhookPreset is proctor.runtime.webhooks.WebhookPreset
    assert issubclass(proctor.Webhook, proctor.runtime.webhooks.WebhookCreate)
