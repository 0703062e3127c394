"""What one firing's actions see: the firing, its event, the services, and the templates'
context, whose run, flow and deployment are loaded only when a template reads them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol
from uuid import UUID

from proctor.automations.delivery import DeliveryOutcome
from proctor.automations.ports import AutomationControl, DeploymentInfo, FlowRunInfo, RunControl
from proctor.core.errors import ActionError
from proctor.events.bus.base import PublishReceipt
from proctor.events.model import Event
from proctor.triggers.definitions.helpers import FLOW_RUN_EVENT_PREFIX
from proctor.triggers.firing import Firing
from proctor.triggers.where import event_document

__all__ = (
    "ACTION_NAMESPACE",
    "ActionServices",
    "EventPublisher",
    "FiringContext",
    "SlackPort",
    "WebhookPort",
    "action_key",
    "event_flow_run",
    "event_flow_run_id",
)

ACTION_NAMESPACE: Final = uuid.UUID("0f4b8a6e-2f8e-4a57-b5a4-6c3f1c7d9e20")
_RUN_PREFIX: Final = FLOW_RUN_EVENT_PREFIX + "."
_TEMPLATE_NAMES: Final = frozenset({"flow_run", "flow", "deployment"})


def action_key(firing_id: UUID, index: int) -> str:
    """The idempotency key of action ``index`` of a firing: the same firing, the same key."""
    return str(uuid.uuid5(ACTION_NAMESPACE, f"{firing_id}/{index}"))


class EventPublisher(Protocol):
    """Where emitted events go (an ``EventBus``)."""

    async def publish(self, event: Event) -> PublishReceipt: ...


class SlackPort(Protocol):
    """``SlackSender.send``."""

    async def send(
        self, webhook_url: Any, message: Any, *, idempotency_key: str | None = None
    ) -> DeliveryOutcome: ...


class WebhookPort(Protocol):
    """``OutgoingWebhookSender.send``."""

    async def send(
        self,
        url: Any,
        *,
        message_id: str,
        now: datetime,
        body: Any = None,
        method: str = "POST",
        headers: Any = None,
        secret: Any = None,
    ) -> DeliveryOutcome: ...


@dataclass(frozen=True)
class ActionServices:
    """The platform, as actions reach it."""

    runs: RunControl
    automations: AutomationControl
    publisher: EventPublisher
    slack: SlackPort
    webhooks: WebhookPort
    log_lines: int = 10
    """How many of a run's last log lines a Slack alert shows."""


def event_flow_run_id(event: Event | None) -> UUID | None:
    """The flow run an event is about: its resource, else a related ``flow-run``."""
    if event is None:
        return None
    candidates = [event.resource.id] + [r.id for r in event.related if r.role == "flow-run"]
    for resource_id in candidates:
        if resource_id.startswith(_RUN_PREFIX):
            try:
                return UUID(resource_id[len(_RUN_PREFIX) :])
            except ValueError:
                continue
    return None


def event_flow_run(event: Event | None) -> FlowRunInfo | None:
    """The flow run as a run state event describes it (no store needed), else ``None``."""
    if event is None or not event.event.startswith(_RUN_PREFIX):
        return None
    run, state = event.payload.get("run"), event.payload.get("state")
    if not isinstance(run, dict) or not isinstance(state, dict):
        return None
    data = {
        **run,
        "state_type": state.get("type"),
        "state_name": state.get("name"),
        "state_message": state.get("message"),
    }
    try:
        return FlowRunInfo.model_validate(data)
    except ValueError:
        return None


@dataclass
class FiringContext:
    """One firing of one automation, as its actions see it."""

    automation_id: str
    automation_name: str
    firing: Firing
    event: Event | None
    """The event that completed the firing (``None`` for schedules and absences)."""
    triggered_id: UUID
    """Id of the ``proctor.automation.triggered`` event: what emitted events are caused by."""
    hops: int
    """Causation hops of the triggered event."""
    now: datetime
    services: ActionServices
    _run: FlowRunInfo | None = field(default=None, init=False)
    _run_loaded: bool = field(default=False, init=False)
    _deployment: DeploymentInfo | None = field(default=None, init=False)
    _deployment_loaded: bool = field(default=False, init=False)
    _keys: dict[int, str] = field(default_factory=dict, init=False)

    async def flow_run(self) -> FlowRunInfo | None:
        """The flow run the event is about (from the event, else from the store), cached."""
        if not self._run_loaded:
            self._run = event_flow_run(self.event)
            if self._run is None:
                run_id = event_flow_run_id(self.event)
                if run_id is not None:
                    self._run = await self.services.runs.read_flow_run(run_id)
            self._run_loaded = True
        return self._run

    async def require_flow_run(self, action: str) -> FlowRunInfo:
        run = await self.flow_run()
        if run is None:
            raise ActionError(
                f"{action}: the firing's event is not about a flow run (and names none)",
                reason="no_flow_run",
            )
        return run

    async def deployment(self) -> DeploymentInfo | None:
        """The deployment of the flow run the event is about, cached."""
        if not self._deployment_loaded:
            run = await self.flow_run()
            if run is not None and run.deployment_id is not None:
                self._deployment = await self.services.runs.read_deployment(str(run.deployment_id))
            self._deployment_loaded = True
        return self._deployment

    async def event_deployment(self, action: str) -> str:
        """The deployment (id) of the flow run the event is about, for actions that default to
        it; ``ActionError`` if there is none."""
        run = await self.flow_run()
        if run is None or run.deployment_id is None:
            raise ActionError(
                f"{action}: no deployment given, and the firing's event is not about a run of "
                "a deployment",
                reason="no_deployment",
            )
        return str(run.deployment_id)

    def key(self, index: int) -> str:
        """The idempotency key of action ``index`` (made once: the engine and the action
        both ask)."""
        key = self._keys.get(index)
        if key is None:
            key = self._keys[index] = action_key(self.firing.id, index)
        return key

    def summary(self) -> dict[str, Any]:
        """The firing as plain data (for webhook bodies)."""
        return {
            "automation": {"id": self.automation_id, "name": self.automation_name},
            "firing": self.firing.model_dump(mode="json"),
            "event": event_document(self.event) if self.event is not None else None,
        }

    async def template_context(self, variables: frozenset[str]) -> dict[str, Any]:
        """What templates see: ``event``, ``firing``, ``automation`` always; ``flow_run``,
        ``flow`` and ``deployment`` loaded only when ``variables`` (what the templates read)
        holds them. Templates that read no variable get an empty context (nothing is made)."""
        if not variables:
            return {}
        context = self.summary()
        if variables & _TEMPLATE_NAMES:
            run = await self.flow_run()
            context["flow_run"] = run.model_dump(mode="json") if run is not None else None
            context["flow"] = {"name": run.flow_name} if run is not None else None
            if "deployment" in variables:
                deployment = await self.deployment()
                context["deployment"] = (
                    deployment.model_dump(mode="json") if deployment is not None else None
                )
        return context
