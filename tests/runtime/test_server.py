"""The runtime inside ``proctor server start``: deploy, run and record, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import proctor
from proctor.core.settings import ProctorSettings
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.client import ProctorClient
from proctor.runtime.deployments import RuntimeService
from proctor.runtime.orchestration import RunPlane, RuntimeOptions
from proctor.runtime.server import LocalServer
from proctor.runtime.worker import ProcessLauncher, Worker
from tests.conftest import TEST_STREAM
from tests.runtime import flows_for_tests
from tests.runtime.conftest import _cleanup

pytestmark = pytest.mark.nats


@pytest.fixture
async def server(
    nats_server: EmbeddedNats, naming: Naming, isolated_environment: Path
) -> AsyncIterator[LocalServer]:
    settings = ProctorSettings(nats_url=nats_server.url, namespace=naming.namespace)
    running = LocalServer(settings, port=0, stream=TEST_STREAM)
    await running.start()
    yield running
    bus = running.bus
    assert bus is not None
    await _cleanup(bus, naming)
    await running.stop()


async def test_a_deployed_flow_runs_through_the_server_and_is_recorded(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert any(isinstance(service, RuntimeService) for service in server.services)
    monkeypatch.setenv("PROCTOR_NATS_URL", server.nats_url)
    monkeypatch.setenv("PROCTOR_NAMESPACE", server.naming.namespace)
    ledger = tmp_path / "ledger"
    await asyncio.to_thread(
        flows_for_tests.record.deploy,
        "e2e",
        work_pool="pool",
        parameters={"path": str(ledger)},
        tags=["e2e"],
    )
    assert server.bus is not None
    plane = await RunPlane.open(server.bus, RuntimeOptions.fast())
    worker = Worker(plane, "pool", launcher=ProcessLauncher(), nats_url=server.nats_url)
    await worker.start()
    try:
        status = await proctor.arun_deployment("record/e2e", {"label": "server"}, timeout_s=60)
    finally:
        await worker.stop()
    assert status.state.name == "Completed"
    assert ledger.read_text().split() == ["server"]

    last = (await server.bus.stats()).last_sequence
    await server.recorders[0].wait_recorded(last, 60)
    async with ProctorClient.from_settings(ProctorSettings()) as client:
        record = await client.flow_runs.read(status.flow_run_id)
        states = await client.flow_runs.states(status.flow_run_id)
        deployment = await client.deployments.read("record/e2e")
    assert record.deployment_id == deployment.id
    assert record.work_pool == "pool"
    assert record.tags == ["e2e"]
    assert [s.name for s in states] == ["Scheduled", "Pending", "Running", "Completed"]
