"""`proctor server start` as one process: flows recorded, queried through the API, auth."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import sysconfig
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from proctor import flow, get_run_logger, task
from proctor.core.discovery import ServerInfo, read_discovery, write_discovery
from proctor.core.errors import ApiError, ConfigurationError
from proctor.core.settings import ProctorSettings
from proctor.runtime.client import ProctorClient
from proctor.runtime.run_events import StateType
from proctor.runtime.server import LocalServer
from proctor.runtime.store import FlowRunFilter, TaskRunFilter
from tests.server.conftest import caught_up

pytestmark = pytest.mark.nats


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(values: list[int]) -> int:
    return sum(values)


@flow
def thousand_tasks() -> int:
    get_run_logger().info("mapping 1000 inputs")
    doubled = double.map(range(1000))
    return total(doubled)  # type: ignore[arg-type]  # the engine resolves the futures


@pytest.mark.slow
async def test_a_thousand_task_flow_is_queryable_once_recorded(
    server: LocalServer, client: ProctorClient
) -> None:
    state = await asyncio.to_thread(thousand_tasks, return_state=True)
    assert state.result() == 999_000
    await caught_up(server)

    (run,) = (await client.flow_runs.list(FlowRunFilter(flow_names=["thousand-tasks"]))).items
    assert run.state.type == StateType.COMPLETED
    completed = TaskRunFilter(flow_run_ids=[run.id], state_types=[StateType.COMPLETED])
    page = await client.task_runs.list(completed, limit=1000)
    assert len(page.items) == 1000
    rest = await client.task_runs.list(completed, limit=1000, page_token=page.next_page)
    assert len(page.items) + len(rest.items) == 1001

    graph = await client.flow_runs.graph(run.id)
    assert len(graph.nodes) == 1001
    (sink,) = [n for n in graph.nodes if n.task_key.endswith("total")]
    assert {e.upstream_id for e in graph.edges if e.downstream_id == sink.id} == {
        n.id for n in graph.nodes if n.id != sink.id
    }
    logs = await client.flow_runs.logs(run.id)
    assert "mapping 1000 inputs" in [line.message for line in logs.items]
    names = [s.name for s in await client.flow_runs.states(run.id)]
    assert names == ["Pending", "Running", "Completed"]


async def test_unknown_run_is_a_404_with_a_message(client: ProctorClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.flow_runs.read(UUID(int=1))
    assert caught.value.status == 404
    assert "not found" in caught.value.message


async def test_ready_and_health(server: LocalServer) -> None:
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"nats": True, "store": True}


async def test_refuses_to_bind_beyond_loopback_without_auth(isolated_environment: Path) -> None:
    server = LocalServer(ProctorSettings(), host="0.0.0.0", port=0)
    with pytest.raises(ConfigurationError, match="PROCTOR_API_AUTH"):
        await server.start()
    assert server.embedded is None  # refused before anything started


async def test_a_home_another_live_server_uses_is_refused_before_anything_starts(
    isolated_environment: Path,
) -> None:
    settings = ProctorSettings()
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import signal; signal.pause()"
    )
    try:
        theirs = ServerInfo(pid=other.pid, nats_url="nats://127.0.0.1:1", api_url="http://x")
        write_discovery(settings.home, theirs)
        server = LocalServer(settings, port=0)
        with pytest.raises(ConfigurationError, match=rf"already running for .*\(pid {other.pid}\)"):
            await server.start()
        assert server.embedded is None  # its NATS store was not touched
        assert read_discovery(settings.home) == theirs
    finally:
        other.kill()
        await other.wait()


async def test_token_auth_end_to_end(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_API_AUTH", "token")
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    created = await asyncio.to_thread(
        subprocess.run,
        [proctor, "token", "create", "ci", "--scope", "read"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    token = created.stdout.strip()
    assert token.startswith("pct_")
    assert token not in created.stderr
    server = LocalServer(ProctorSettings(), port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.api_url) as http:
            assert (await http.get("/api/flow-runs")).status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert (await http.get("/api/flow-runs", headers=bearer)).status_code == 200
            assert (await http.get("/metrics")).status_code == 401
            assert (await http.get("/metrics", headers=bearer)).status_code == 200
            body = {"event": "a.b", "resource": {"proctor.resource.id": "x"}}
            written = await http.post("/api/events", json=body, headers=bearer)
            assert written.status_code == 403
    finally:
        await server.stop()
