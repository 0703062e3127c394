"""The web UI in a real browser (headless Chromium) against a real server with real flow runs:
open a failed run and see its error, graph and logs; watch runs and events arrive live;
see webhook deliveries; every page renders and is saved as a screenshot."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import httpx
import pytest

from proctor.core.settings import ProctorSettings
from proctor.events.model import Event
from proctor.runtime.api.auth import Scope
from proctor.runtime.api.tokens import create_token
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.store import FlowRunFilter
from tests.server.conftest import caught_up
from tests.ui.conftest import Watch, screenshot
from tests.ui.deploying import POOL, deploy, worker
from tests.ui.flows import etl, nightly_report

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.nats, pytest.mark.asyncio(loop_scope="session")]


async def failed_run(server: LocalServer) -> tuple[UUID, str]:
    """Run the failing `etl` flow for real; its id and name once the server recorded it."""
    state = await asyncio.to_thread(etl, return_state=True)
    assert state.is_failed()
    await caught_up(server)
    async with ProctorClient.from_settings(ProctorSettings()) as client:
        (run,) = (await client.flow_runs.list(FlowRunFilter(flow_names=["etl"]))).items
    return run.id, run.name


async def live(page: Page) -> None:
    """Wait until the page's live stream is connected (events from now on reach it)."""
    from playwright.async_api import expect

    await expect(page.locator("#live-status")).to_have_text("live")


async def test_a_failed_run_shows_its_error_graph_and_logs(page: Page, server: LocalServer) -> None:
    from playwright.async_api import expect

    await asyncio.to_thread(nightly_report)
    run_id, name = await failed_run(server)

    await page.goto("/")
    failures = page.locator("#failures")
    await expect(failures).to_contain_text(name)
    await expect(failures).to_contain_text("validation failed: 8 rows, expected 100")
    await expect(page.locator('[data-stat="failed"] .n')).to_have_text("1")
    await expect(page.locator('[data-stat="completed"] .n')).to_have_text("1")
    await expect(page.locator("svg.chart rect.s-failed")).to_have_count(1)
    await screenshot(page, "dashboard")

    await failures.get_by_role("link", name=name).click()
    await expect(page).to_have_url(f"{server.api_url}/runs/{run_id}")
    await expect(page.locator("h1")).to_contain_text(name)
    await expect(page.locator("h1 .state")).to_have_text("Failed")
    await expect(page.locator(".failure-message")).to_contain_text("ValueError: validation failed")

    nodes = page.locator("svg.graph g.node")
    await expect(nodes).to_have_count(5)  # extract, transform, square x8 (grouped), load, validate
    failed_node = nodes.filter(has_text="validate-0")
    await expect(failed_node.locator("rect.s-failed")).to_have_count(1)
    await expect(nodes.filter(has_text="square \u00d78")).to_contain_text("8 completed")
    # extract -> transform -> load and -> validate; the squares are waited on by load
    await expect(page.locator("svg.graph path.edge")).to_have_count(4)

    logs = page.locator(".logs")
    await expect(logs).to_contain_text("loading into warehouse")
    await expect(logs).to_contain_text("row 3 looks odd")
    await expect(page.locator(".states li")).to_have_count(3)  # Pending, Running, Failed
    await expect(page.locator("pre.json")).to_contain_text('"warehouse"')
    await screenshot(page, "run-detail")

    await failed_node.click()  # only that task run's logs
    await expect(logs).to_contain_text("row 3 looks odd")
    await expect(logs).not_to_contain_text("loading into warehouse")
    await expect(page.locator("table.grid tr.selected")).to_contain_text("validate-0")


async def test_the_runs_page_updates_live_and_filters_by_state(
    page: Page, server: LocalServer
) -> None:
    from playwright.async_api import expect

    await asyncio.to_thread(nightly_report)
    await caught_up(server)
    await page.goto("/runs")
    rows = page.locator("table.grid tbody tr")
    await expect(rows).to_have_count(1)
    await live(page)

    _, name = await failed_run(server)  # while the page is open
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text=name).locator(".state")).to_have_text("Failed")

    await page.locator('.chip[data-state="FAILED"]').click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(name)
    assert "state=FAILED" in page.url
    await screenshot(page, "runs")


async def test_an_event_arrives_live_with_the_trigger_filter_language(
    page: Page, server: LocalServer
) -> None:
    from playwright.async_api import expect

    assert server.bus is not None
    await page.goto("/events?name=shop.order.*")
    await expect(page.locator("#events-status")).to_have_text("0 events")
    await live(page)

    await server.bus.publish(Event.build("other.thing", {"proctor.resource.id": "x"}))
    order = Event.build(
        "shop.order.created",
        {"proctor.resource.id": "shop.order.7", "proctor.resource.name": "order 7"},
        payload={"total": 70, "items": ["book"]},
    )
    await server.bus.publish(order)

    row = page.locator(f'tr[data-id="{order.id}"]')
    await expect(row).to_contain_text("shop.order.created")
    await expect(page.locator("table.event-list tbody tr")).to_have_count(1)  # not other.thing
    await row.click()
    detail = page.locator("#event-detail")
    await expect(detail).to_contain_text('"total": 70')
    await expect(detail).to_contain_text("shop.order.7")
    assert f"id={order.id}" in page.url
    await screenshot(page, "events")


async def test_webhooks_show_their_url_and_last_deliveries_and_rejections(
    page: Page, server: LocalServer
) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=server.api_url) as http:
        created = await http.post("/api/webhooks", json={"slug": "github-push", "preset": "github"})
        assert created.status_code == 201, created.text
        unsigned = await http.post("/hooks/github-push", json={"ref": "refs/heads/main"})
        assert unsigned.status_code == 401
    await caught_up(server)

    await page.goto("/webhooks")
    card = page.locator('section[data-slug="github-push"]')
    await expect(card).to_contain_text(f"{server.api_url}/hooks/github-push")
    await expect(card).to_contain_text("GitHub")
    await expect(card.locator("tbody tr")).to_contain_text("rejected 401")
    await expect(card).to_contain_text("missing_header")
    await screenshot(page, "webhooks")


async def test_the_other_pages_render(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/")
    for path, heading in [
        ("/automations", "Automations"),
        ("/deployments", "Deployments"),
        ("/work-pools", "Work pools"),
    ]:
        await page.locator(f'#nav a[href="{path}"]').click()  # in-app navigation
        await expect(page).to_have_url(re.compile(f"{re.escape(path)}$"))
        await expect(page.locator("h1")).to_have_text(heading)
        await expect(page.locator("main .card, main .gap").first).to_be_visible()
        await expect(page.locator(f'#nav a[href="{path}"]')).to_have_class("active")
        await screenshot(page, path.strip("/"))


async def test_with_auth_on_the_ui_asks_for_a_token_once(
    auth_on: None, page: Page, server: LocalServer, watch: Watch
) -> None:
    from playwright.async_api import expect

    assert server.settings.api_auth == "token"
    watch.allow("401")  # the refused requests before the token is given
    assert server.store is not None
    token = await create_token(server.store, "ui", Scope.READ)

    await page.goto("/")
    dialog = page.locator("#token-dialog")
    await expect(dialog).to_be_visible()
    await screenshot(page, "token-prompt")
    await page.locator("#token-input").fill(token)
    await page.get_by_role("button", name="Use token").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator('[data-stat="all"] .n')).to_have_text("0")
    await live(page)

    await page.reload()  # kept for the tab's session: not asked again
    await expect(page.locator('[data-stat="all"] .n')).to_have_text("0")
    await expect(dialog).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('proctor.token')") == token


async def test_automations_show_their_last_firings_with_action_outcomes(
    page: Page, server: LocalServer
) -> None:
    """Firings are read from the engine's report events (the same builders it uses)."""
    from playwright.async_api import expect

    from proctor.automations.engine.reports import action_event, triggered_event
    from proctor.triggers.firing import Firing

    assert server.bus is not None
    now = datetime.now(UTC)
    cause = Event.build(
        "proctor.flow-run.Failed",
        {
            "proctor.resource.id": f"proctor.flow-run.{uuid4()}",
            "proctor.resource.name": "sad-otter",
        },
    )
    firing = Firing(id=uuid4(), trigger="a1", kind="reactive", occurred=now, evaluated=now)
    triggered = triggered_event("a1", "etl failures", firing, cause, now)
    reports = [
        triggered,
        action_event(
            "a1", "etl failures", firing_id=firing.id, caused_by=triggered.id,
            hops=triggered.hops, index=0,
            kind="retry-flow-run", key="k0", now=now, detail={"flow_run_id": str(uuid4())},
        ),
        action_event(
            "a1", "etl failures", firing_id=firing.id, caused_by=triggered.id,
            hops=triggered.hops, index=1,
            kind="send-slack-message", key="k1", now=now, reason="no_team",
            message="Slack answered 404 no_team", attempts=1,
        ),
    ]  # fmt: skip
    for report in reports:
        await server.bus.publish(report)
    await caught_up(server)

    await page.goto("/automations")
    card = page.locator('section[data-name="etl failures"]')
    await expect(card).to_have_class(re.compile("alert"))  # an action failed: shown first
    await expect(card).to_contain_text("proctor.flow-run.Failed")
    await expect(card).to_contain_text("sad-otter")
    await expect(card.locator(".outcome.ok")).to_contain_text("retry-flow-run")
    await expect(card.locator(".outcome.bad")).to_contain_text("send-slack-message: no_team")
    await screenshot(page, "automations-firings")


async def test_an_automation_is_toggled_from_its_page(page: Page, server: LocalServer) -> None:
    from playwright.async_api import expect

    from proctor import Automation
    from proctor.automations import EmitEvent
    from proctor.triggers import on_flow_failed

    async with httpx.AsyncClient(base_url=server.api_url) as http:
        routes = (await http.get("/openapi.json")).json()["paths"]
        if "/api/automations/{reference}/pause" not in routes:
            pytest.skip("this server offers no automation routes yet (/api/automations)")
        rule = Automation(
            name="page me",
            trigger=on_flow_failed(flow="etl"),
            actions=[EmitEvent(event="ops.paged", resource={"proctor.resource.id": "ops"})],
        )
        created = await http.post("/api/automations", json=rule.to_data())
        assert created.status_code == 201, created.text

        await page.goto("/automations")
        card = page.locator('section[data-name="page me"]')
        await expect(card).to_contain_text("proctor.flow-run.Failed")
        await expect(card).to_contain_text("Emit ops.paged")
        switch = card.get_by_role("switch")
        await expect(switch).to_have_attribute("aria-checked", "true")
        await switch.click()
        await expect(switch).to_have_attribute("aria-checked", "false")
        await expect(card.locator(".enabled-label")).to_have_text("paused")
        assert (await http.get("/api/automations/page me")).json()["enabled"] is False
        await screenshot(page, "automations")

        await switch.click()
        await expect(switch).to_have_attribute("aria-checked", "true")
        assert (await http.get("/api/automations/page me")).json()["enabled"] is True


async def test_the_graph_layout_points_every_edge_forward(page: Page) -> None:
    await page.goto("/")
    result = await page.evaluate((Path(__file__).parent / "layout_check.js").read_text())
    assert result["items"] == ["a", "b", "c", "d", "group:20", "z"]  # 20 squares: one node
    assert result["forward"]  # layers by longest path: every edge points right
    # a-b a-c b-d c-d d-z a-z a-group group-z; the edge from outside the run is dropped
    assert result["edges"] == 8
    assert not result["overlapping"]
    assert result["inside"]


async def test_deployments_pools_and_cancelling_a_deployed_run(
    page: Page, server: LocalServer
) -> None:
    from playwright.async_api import expect

    schedules = [{"cron": "0 6 * * *", "timezone": "Europe/Paris"}, {"interval_s": 3600}]
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        await deploy(http, schedules=schedules)
        async with worker(server):
            await page.goto("/work-pools")
            pool = page.locator(f'section[data-pool="{POOL}"]')
            await expect(pool).to_contain_text("1 healthy worker")
            await expect(pool.locator("table").first.locator("tbody tr")).to_have_count(3)
            await expect(pool.get_by_text("ready", exact=True)).to_have_count(3)
            await expect(pool).to_contain_text("laptop")
            await screenshot(page, "work-pools")

            await page.goto("/deployments")
            row = page.locator('tr[data-name="slow/slowly"]')
            await expect(row.locator(".pill")).to_contain_text(["nightly", "ready"])
            await expect(row).to_contain_text("0 6 * * * (Europe/Paris)")
            await expect(row.locator(".next-fires li")).to_have_count(3)
            await screenshot(page, "deployments")

            await row.locator('button[data-command="run"]').click()  # a run, on the worker
            await expect(page.locator("h1 .state")).to_have_text("Running")
            await expect(page.locator(".logs")).to_contain_text("tick 3")
            cancel = page.locator('button[data-command="cancel"]')
            await cancel.click()
            await cancel.click()  # confirm
            await expect(page.locator("h1 .state")).to_have_text("Cancelled")
            await expect(page.locator(".states li")).to_contain_text(["Cancelling", "Cancelled"])
            await screenshot(page, "run-cancelled")
