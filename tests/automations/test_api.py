"""``/api/automations`` and ``client.automations`` over a real store: rules refused at save
time naming the field, secrets never shown, apply by name with a diff, and the change events
engines reload on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proctor.automations import Automation, RunDeployment, SendSlackMessage
from proctor.core.errors import ApiError, NotFoundError
from proctor.events.bus import InMemoryEventBus
from proctor.runtime.api.automations import automations_router
from proctor.runtime.api.errors import install_error_handlers
from proctor.runtime.automation_service import AutomationRegistry
from proctor.runtime.client import ApiTransport, ProctorClient
from proctor.runtime.store import Store
from proctor.runtime.store.control import DeploymentRow
from proctor.triggers import on_event, on_flow_failed

SLACK = "https://hooks.slack.com/services/T0/B0/secret-token"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await opened.deployments.create(
        DeploymentRow(name="nightly", flow_name="etl", entrypoint="etl.py:etl", work_pool="p")
    )
    yield opened
    await opened.close()


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
async def client(store: Store, bus: InMemoryEventBus) -> AsyncIterator[ProctorClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(automations_router(AutomationRegistry(store, bus)), prefix="/api")
    transport = httpx.ASGITransport(app=app)
    async with ProctorClient(ApiTransport("http://proctor", transport=transport)) as made:
        yield made


def _alert(name: str = "etl failures", text: str = "failed: {{ flow_run.name }}") -> Automation:
    return Automation(
        name=name,
        trigger=on_flow_failed("etl"),
        actions=[SendSlackMessage(webhook_url=SLACK, text=text)],
    )


async def test_create_read_list_delete_and_the_change_events(
    client: ProctorClient, bus: InMemoryEventBus
) -> None:
    created = await client.automations.create(_alert())
    read = await client.automations.read("etl failures")
    assert read.id == created.id
    assert read.definition().name == "etl failures"
    assert [a.name for a in await client.automations.list()] == ["etl failures"]
    await client.automations.delete(created.id)
    with pytest.raises(NotFoundError):
        await client.automations.read(created.id)
    assert [e.event for e in bus.events] == [
        "proctor.automation.created",
        "proctor.automation.deleted",
    ]


async def test_secrets_are_stored_but_never_shown(client: ProctorClient, store: Store) -> None:
    created = await client.automations.create(_alert())
    assert "secret-token" not in created.model_dump_json()
    listed = await client.automations.list()
    assert "secret-token" not in listed[0].model_dump_json()
    row = await store.automations.find(name="etl failures")
    assert row is not None
    assert "secret-token" in str(row.definition)  # kept, for the engine
    masked = created.definition()
    with pytest.raises(ApiError) as refused:
        await client.automations.replace(created.id, masked)
    assert refused.value.status == 422
    assert refused.value.field == "actions.0.webhook_url"


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"trigger": {"type": "cron", "cron": "0 25 * * *"}}, "trigger.cron"),
        ({"trigger": {"type": "event", "where": "$.payload[?("}}, "trigger.where"),
        (
            {
                "actions": [
                    {
                        "type": "run-deployment",
                        "deployment": "etl/nightly",
                        "parameters": {"a": "{{ x"},
                    }
                ]
            },
            "actions.0.parameters.a",
        ),
        (
            {"actions": [{"type": "run-deployment", "deployment": "etl/weekly"}]},
            "actions.0.deployment",
        ),
    ],
)
async def test_bad_rules_are_a_422_naming_the_field(
    client: ProctorClient, definition: dict[str, object], field: str
) -> None:
    body = {
        "name": "bad",
        "trigger": {"type": "event", "expect": ["a.b"]},
        "actions": [{"type": "run-deployment", "deployment": "etl/nightly"}],
        **definition,
    }
    with pytest.raises(ApiError) as refused:
        await client.transport.request("POST", "/api/automations", json=body)
    assert refused.value.status == 422
    assert refused.value.field == field
    assert field in refused.value.message


async def test_a_taken_name_is_a_409(client: ProctorClient) -> None:
    await client.automations.create(_alert())
    with pytest.raises(ApiError) as refused:
        await client.automations.create(_alert())
    assert refused.value.status == 409
    assert refused.value.field == "name"


async def test_apply_creates_updates_and_prunes_by_name_with_a_diff(
    client: ProctorClient,
) -> None:
    first = await client.automations.apply([_alert(), _alert("old one")])
    assert first.created == ("etl failures", "old one")
    again = await client.automations.apply([_alert(), _alert("old one")])
    assert again.unchanged == ("etl failures", "old one")
    assert not again.changed
    rebuild = Automation(
        name="rebuild",
        trigger=on_event("github.push"),
        actions=[RunDeployment(deployment="etl/nightly")],
    )
    planned = await client.automations.apply(
        [_alert(text="new text"), rebuild], prune=True, dry_run=True
    )
    assert planned.dry_run
    assert [u.fields for u in planned.updated] == [("actions",)]
    assert planned.created == ("rebuild",)
    assert planned.deleted == ("old one",)
    assert len(await client.automations.list()) == 2  # dry run: nothing changed
    done = await client.automations.apply([_alert(text="new text"), rebuild], prune=True)
    assert done.lines() == [
        "+ rebuild (created)",
        "~ etl failures (updated: actions)",
        "- old one (deleted)",
    ]
    assert sorted(a.name for a in await client.automations.list()) == ["etl failures", "rebuild"]


async def test_pause_and_resume_record_the_reason(client: ProctorClient) -> None:
    created = await client.automations.create(_alert())
    paused = await client.automations.pause(created.id, reason="noisy")
    assert not paused.enabled
    assert paused.paused_reason == "noisy"
    resumed = await client.automations.resume("etl failures")
    assert resumed.enabled
    assert resumed.paused_reason is None


async def test_deployment_schedules_are_listed_as_owned_automations(
    client: ProctorClient, store: Store
) -> None:
    deployment = await store.deployments.create(
        DeploymentRow(
            name="hourly",
            flow_name="etl",
            entrypoint="etl.py:etl",
            work_pool="p",
            schedules=[{"cron": "0 * * * *", "timezone": "Europe/Paris"}],
        )
    )
    [owned] = await client.automations.list()
    assert owned.owner == f"deployment:{deployment.id}"
    assert owned.automation["trigger"]["cron"] == "0 * * * *"
    assert await client.automations.list(owned=False) == []
    with pytest.raises(ApiError) as refused:
        await client.automations.delete(owned.id)
    assert refused.value.status == 422
