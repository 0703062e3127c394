"""Retrying a failed deployment run from its page, with API auth on: the page sends the token,
the new run is linked to the old one by ``retry_of`` and is followed to its end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from proctor.runtime.api.auth import Scope
from proctor.runtime.api.tokens import create_token
from proctor.runtime.server import LocalServer
from tests.ui.conftest import Watch, screenshot
from tests.ui.deploying import FLOWS, deploy, run_to_end, worker

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.nats, pytest.mark.asyncio(loop_scope="session")]
LONG_MS = 120_000  # a worker process starts the retried flow: slow on a loaded machine


async def test_retry_a_failed_deployment_run_from_its_page(
    auth_on: None, page: Page, server: LocalServer, watch: Watch, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    watch.allow("401")  # the refused requests before the token is given
    assert server.store is not None
    token = await create_token(server.store, "ui", Scope.WRITE)
    bearer = {"Authorization": f"Bearer {token}"}
    ledger = tmp_path / "ledger"
    async with httpx.AsyncClient(base_url=server.api_url, headers=bearer, timeout=60) as http:
        await deploy(
            http, name="once", flow_name="flaky", entrypoint=f"{FLOWS}:flaky",
            parameters={"ledger": str(ledger)},
        )  # fmt: skip
        async with worker(server):
            failed = await run_to_end(server, http, "flaky/once")
            old_id = failed["flow_run_id"]

            await page.goto(f"/runs/{old_id}")
            await page.locator("#token-input").fill(token)
            await page.get_by_role("button", name="Use token").click()
            await expect(page.locator("h1 .state")).to_have_text("Failed")
            await expect(page.locator(".failure-message")).to_contain_text("fails on purpose")
            retry = page.locator('button[data-command="retry"]')
            await retry.click()
            await expect(retry).to_have_text("Confirm retry")
            await retry.click()

            await expect(page).not_to_have_url(f"{server.api_url}/runs/{old_id}")
            new_id = page.url.rsplit("/", 1)[1]
            retry_of = page.locator("dl.facts").locator(f'a[href="/runs/{old_id}"]')
            await expect(retry_of).to_be_visible()
            await expect(page.locator("h1 .state")).to_have_text("Completed", timeout=LONG_MS)
            await expect(page.locator(".logs")).to_contain_text("attempt 2")
            await expect(page.locator("pre.json")).to_contain_text('"failures": 1')  # default
            await screenshot(page, "run-retried")

            recorded = (await http.get(f"/api/flow-runs/{new_id}")).json()
            assert recorded["retry_of"] == old_id
            original = (await http.get(f"/api/flow-runs/{old_id}")).json()
            assert recorded["parameters"] == original["parameters"]
            assert ledger.read_text().splitlines() == ["attempt 1", "attempt 2"]
