"""A run requested a moment ago is readable by id before the recorder has stored it (a
`proctor retry` followed at once by `proctor cancel <its id>` found no run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from proctor.core.errors import NotFoundError
from proctor.core.settings import ProctorSettings
from proctor.runtime.client import ProctorClient
from proctor.runtime.client.base import ApiTransport
from proctor.runtime.run_events import StateType
from proctor.runtime.server import LocalServer
from tests.ui.deploying import deploy

pytestmark = pytest.mark.nats


@pytest.fixture
async def unrecorded(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    """A server without a recorder: nothing it is sent is ever stored."""
    running = LocalServer(ProctorSettings(), port=0, recorder=False)
    await running.start()
    yield running
    await running.stop()


async def test_a_requested_run_is_read_from_the_runtime_until_it_is_stored(
    unrecorded: LocalServer,
) -> None:
    async with httpx.AsyncClient(base_url=unrecorded.api_url) as http:
        await deploy(http)
        answer = await http.post("/api/deployments/name/slow/slowly/runs", json={})
        assert answer.status_code == 201, answer.text
        requested = answer.json()
        assert (await http.get(f"/api/flow-runs/{requested['flow_run_id']}")).status_code == 404
    async with ProctorClient(ApiTransport(unrecorded.api_url)) as client:
        run = await client.flow_runs.read(UUID(requested["flow_run_id"]))
        assert (run.name, run.flow_name, run.deployment_name) == (
            requested["name"], "slow", "slowly",
        )  # fmt: skip
        assert (run.work_pool, run.state.type) == ("local", StateType.SCHEDULED)

        unknown = uuid4()
        with pytest.raises(NotFoundError, match=f"flow run {unknown} not found"):
            await client.flow_runs.read(unknown)
