"""Each action against in-memory ports: what it asks of the platform, what it reports, and
how it fails (with a reason, never a secret)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from proctor.automations import (
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    EmitEvent,
    PauseAutomation,
    PauseDeployment,
    RetryFlowRun,
    RunDeployment,
    SendSlackMessage,
)
from proctor.automations.actions import Action
from proctor.automations.engine import InMemoryAutomations
from proctor.automations.execution import ActionServices, FiringContext, execute
from proctor.automations.ports import FlowRunInfo
from proctor.automations.templating import compile_template
from proctor.core.errors import ActionError
from proctor.events.bus import InMemoryEventBus
from proctor.events.labels import ID_LABEL, ROLE_LABEL
from proctor.events.model import Event
from proctor.triggers import Firing
from tests.automations.fakes import FakeRuns, RecordingSender
from tests.triggers.support import T0


def _failed_event(run: FlowRunInfo, state: str = "Failed", kind: str = "FAILED") -> Event:
    """A flow-run state event as the runtime emits it (snapshot in the payload)."""
    return Event.build(
        f"proctor.flow-run.{state}",
        {ID_LABEL: f"proctor.flow-run.{run.id}", "proctor.state-type": kind},
        payload={
            "run": run.model_dump(mode="json"),
            "state": {"type": kind, "name": state, "message": "boom"},
            "previous_state": None,
        },
        occurred=T0,
    )


class Setup:
    def __init__(self) -> None:
        self.runs = FakeRuns()
        self.deployment = self.runs.add_deployment("etl", "nightly")
        self.automations = InMemoryAutomations()
        self.bus = InMemoryEventBus()
        self.slack = RecordingSender()
        self.webhooks = RecordingSender()
        self.services = ActionServices(
            runs=self.runs,
            automations=self.automations,
            publisher=self.bus,
            slack=self.slack,
            webhooks=self.webhooks,
        )

    def run(self, **changes: Any) -> FlowRunInfo:
        fields: dict[str, Any] = {
            "id": uuid.uuid4(),
            "name": "brave-otter",
            "flow_name": "etl",
            "deployment_id": self.deployment.id,
            "deployment_name": "nightly",
            "parameters": {"day": "2026-06-01"},
            "state_type": "FAILED",
            "state_name": "Failed",
        }
        fields.update(changes)
        info = FlowRunInfo(**fields)
        self.runs.runs[info.id] = info
        return info

    def context(self, event: Event | None, kind: str = "reactive") -> FiringContext:
        firing = Firing(
            id=uuid.uuid4(),
            trigger="a1",
            kind=kind,
            events=(event.id,) if event else (),
            occurred=T0,
            evaluated=T0,
        )
        return FiringContext(
            automation_id="a1",
            automation_name="under test",
            firing=firing,
            event=event,
            triggered_id=uuid.uuid4(),
            hops=1,
            now=T0,
            services=self.services,
        )

    async def act(self, action: Action, event: Event | None) -> dict[str, Any]:
        return await execute(action, self.context(event), 0)


@pytest.fixture
def setup() -> Setup:
    return Setup()


async def test_retry_re_runs_a_failed_run_with_its_parameters_and_records_the_link(
    setup: Setup,
) -> None:
    failed = setup.run()
    detail = await setup.act(
        RetryFlowRun(max_attempts=3, delay=timedelta(minutes=5)), _failed_event(failed)
    )
    request = setup.runs.requests[0]
    assert request.deployment == str(setup.deployment.id)
    assert request.parameters == {"day": "2026-06-01"}
    assert request.retry_of == failed.id
    assert request.scheduled_time == T0 + timedelta(minutes=5)
    assert detail["attempt"] == 2
    assert detail["retry_of"] == str(failed.id)


async def test_retry_counts_the_chain_and_stops_when_attempts_run_out(setup: Setup) -> None:
    first = setup.run()
    second = setup.run(retry_of=first.id)
    third = setup.run(retry_of=second.id)
    with pytest.raises(ActionError) as refused:
        await setup.act(RetryFlowRun(max_attempts=3), _failed_event(third))
    assert refused.value.reason == "attempts_exhausted"
    assert not refused.value.retryable
    await setup.act(RetryFlowRun(max_attempts=4), _failed_event(third))
    assert setup.runs.requests[0].retry_of == third.id


async def test_retry_takes_crashed_runs_and_refuses_completed_or_undeployed_ones(
    setup: Setup,
) -> None:
    crashed = setup.run(state_type="CRASHED", state_name="Crashed")
    await setup.act(RetryFlowRun(), _failed_event(crashed, "Crashed", "CRASHED"))
    assert setup.runs.requests[0].retry_of == crashed.id
    completed = setup.run(state_type="COMPLETED", state_name="Completed")
    with pytest.raises(ActionError, match="not failed") as error:
        await setup.act(RetryFlowRun(), _failed_event(completed, "Completed", "COMPLETED"))
    assert error.value.reason == "not_failed"
    script = setup.run(deployment_id=None)
    with pytest.raises(ActionError, match="deploy the flow") as error:
        await setup.act(RetryFlowRun(), _failed_event(script))
    assert error.value.reason == "not_deployed"


async def test_run_deployment_defaults_to_the_runs_deployment(setup: Setup) -> None:
    run = setup.run()
    await setup.act(RunDeployment(parameters={"run": "{{ flow_run.name }}"}), _failed_event(run))
    assert setup.runs.requests[0].deployment == str(setup.deployment.id)
    assert setup.runs.requests[0].parameters == {"run": "brave-otter"}


async def test_the_run_is_loaded_only_when_a_template_reads_it(setup: Setup) -> None:
    run = setup.run()
    reads: list[uuid.UUID] = []
    original = setup.runs.read_flow_run

    async def counting(run_id: uuid.UUID) -> FlowRunInfo | None:
        reads.append(run_id)
        return await original(run_id)

    setup.runs.read_flow_run = counting  # type: ignore[method-assign,assignment]
    custom = Event.build(
        "etl.row.rejected",
        {ID_LABEL: "row.1"},
        related=[{ID_LABEL: f"proctor.flow-run.{run.id}", ROLE_LABEL: "flow-run"}],
        payload={"row": 7},
    )
    plain = RunDeployment(deployment="etl/nightly", parameters={"row": "{{ event.payload.row }}"})
    await setup.act(plain, custom)
    assert reads == []
    lazy = RunDeployment(deployment="etl/nightly", parameters={"flow": "{{ flow.name }}"})
    await setup.act(lazy, custom)
    assert reads == [run.id]
    assert setup.runs.requests[1].parameters == {"flow": "etl"}
    assert compile_template("{{ flow_run.id }}", field="x").variables == {"flow_run"}


async def test_cancel_and_change_state_act_on_the_events_run_or_a_templated_one(
    setup: Setup,
) -> None:
    run = setup.run(state_type="RUNNING", state_name="Running")
    event = _failed_event(run, "Running", "RUNNING")
    await setup.act(CancelFlowRun(), event)
    other = uuid.uuid4()
    await setup.act(
        ChangeFlowRunState(
            state="FAILED", message="stuck in {{ flow_run.state_name }}", flow_run=str(other)
        ),
        event,
    )
    assert setup.runs.calls == [
        ("cancel", run.id),
        ("state", (other, "FAILED", None, "stuck in Running")),
    ]
    with pytest.raises(ActionError) as error:
        await setup.act(CancelFlowRun(flow_run="{{ event.payload.nope | default('x') }}"), event)
    assert error.value.reason == "invalid_flow_run"


async def test_pause_deployment_and_pause_this_automation(setup: Setup) -> None:
    from proctor.automations import Automation
    from proctor.triggers import on_event

    loaded = setup.automations.put(
        Automation(name="under test", trigger=on_event("a.b"), actions=[PauseAutomation()]),
        id="a1",
    )
    run = setup.run()
    await setup.act(PauseDeployment(), _failed_event(run))
    assert setup.runs.calls == [("pause-deployment", str(setup.deployment.id))]
    await setup.act(PauseAutomation(), _failed_event(run))
    assert not setup.automations.items[loaded.id].enabled
    assert "under test" in setup.automations.paused[loaded.id]


async def test_slack_without_text_sends_the_flow_run_alert(setup: Setup) -> None:
    run = setup.run()
    setup.runs.logs[run.id] = ["starting", "reading rows", "ValueError: bad row"]
    await setup.act(SendSlackMessage(webhook_url="https://hooks.slack.com/x"), _failed_event(run))
    message = setup.slack.sent[0]["args"][1]
    text = message.model_dump_json()
    for expected in ("etl", "brave-otter", "Failed", "boom", "ValueError: bad row", str(run.id)):
        assert expected in text
    assert f"http://proctor.test/runs/{run.id}" in text


async def test_webhook_body_defaults_to_the_firing_and_a_bad_template_is_an_error(
    setup: Setup,
) -> None:
    event = Event.build("a.b", {ID_LABEL: "x"}, payload={"k": 1})
    await setup.act(CallWebhook(url="https://example.com/h"), event)
    body = setup.webhooks.sent[0]["body"]
    assert body["event"]["payload"] == {"k": 1}
    assert body["automation"] == {"id": "a1", "name": "under test"}
    with pytest.raises(ActionError) as error:
        await setup.act(
            CallWebhook(url="https://example.com/h", body={"x": "{{ missing.y }}"}), event
        )
    assert error.value.reason == "template_error"
    assert "body.x" in str(error.value)


async def test_emitted_events_carry_causation_and_a_stable_id(setup: Setup) -> None:
    action = EmitEvent(
        event="etl.{{ event.payload.kind }}",
        resource={ID_LABEL: "etl.{{ event.payload.n }}"},
        payload={"n": "{{ event.payload.n }}"},
    )
    source = Event.build("a.b", {ID_LABEL: "x"}, payload={"kind": "rerun", "n": 4})
    context = setup.context(source)
    await execute(action, context, 0)
    await execute(action, context, 0)  # re-run after a redelivery: same id, stored once
    assert len(setup.bus.events) == 1
    emitted = setup.bus.events[0]
    assert emitted.event == "etl.rerun"
    assert emitted.resource.id == "etl.4"
    assert emitted.payload == {"n": 4}
    assert emitted.caused_by == context.triggered_id
    assert emitted.hops == 2
