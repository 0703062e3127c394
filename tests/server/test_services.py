"""`proctor services <name>`: each part alone on one external NATS and one store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sysconfig
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from proctor import flow, task
from proctor.cli.main import app
from proctor.core.discovery import read_discovery
from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.client import ApiTransport, ProctorClient
from proctor.runtime.run_events import StateType
from proctor.runtime.server import SEPARATE_SERVICES, LocalServer, service_server
from proctor.runtime.store import FlowRunFilter, TaskRunFilter
from tests.server.conftest import caught_up, delete_namespace

pytestmark = pytest.mark.nats


@task
def square(x: int) -> int:
    return x * x


@flow
def squares() -> list[int]:
    return [square(x) for x in range(5)]


@pytest.fixture
async def external(
    nats_server: EmbeddedNats, naming: Naming, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ProctorSettings]:
    """Settings of a scale-out process: the shared NATS, a namespace of its own."""
    monkeypatch.setenv("PROCTOR_NATS_URL", nats_server.url)
    monkeypatch.setenv("PROCTOR_NAMESPACE", naming.namespace)
    yield ProctorSettings()
    await delete_namespace(nats_server.url, naming)


@contextlib.asynccontextmanager
async def running(name: str, settings: ProctorSettings) -> AsyncIterator[LocalServer]:
    server = service_server(name, settings, port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_the_api_alone_serves_what_the_recorder_alone_recorded(
    external: ProctorSettings,
) -> None:
    async with running("recorder", external) as recorder, running("api", external) as api:
        assert recorder.api is None
        assert recorder.embedded is None
        assert api.recorders == []
        assert api.services == []
        assert await asyncio.to_thread(squares) == [0, 1, 4, 9, 16]
        await caught_up(recorder)

        async with ProctorClient(ApiTransport(api.api_url)) as client:
            (run,) = (await client.flow_runs.list(FlowRunFilter(flow_names=["squares"]))).items
            assert run.state.type == StateType.COMPLETED
            tasks = await client.task_runs.list(TaskRunFilter(flow_run_ids=[run.id]))
            assert len(tasks.items) == 5
        async with httpx.AsyncClient(base_url=api.api_url) as http:
            assert (await http.get("/ready")).json()["checks"] == {"nats": True, "store": True}
        info = read_discovery(external.home)
        assert info is not None
        assert info.api_url == api.api_url


async def test_the_engine_and_runtime_run_their_service_only(external: ProctorSettings) -> None:
    async with running("engine", external) as engine, running("runtime", external) as runtime:
        assert [s.name for s in engine.services] == ["automations"]
        assert [s.name for s in runtime.services] == ["runtime"]
        assert engine.api is None
        assert engine.recorders == []
        assert runtime.api is None
        assert runtime.recorders == []


def test_services_need_an_external_nats() -> None:
    with pytest.raises(ConfigurationError, match="set PROCTOR_NATS_URL"):
        service_server("recorder", ProctorSettings())
    with pytest.raises(ConfigurationError, match="unknown service 'x': choose from recorder"):
        service_server("x", ProctorSettings(nats_url="nats://127.0.0.1:1"))


def test_the_cli_says_what_is_missing_in_one_line() -> None:
    result = CliRunner().invoke(app, ["services", "recorder"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: services run against an external NATS: set PROCTOR_NATS_URL")


def test_ls_lists_every_service_with_one_line() -> None:
    result = CliRunner().invoke(app, ["services", "ls"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.strip().splitlines()]
    assert names == list(SEPARATE_SERVICES)


@pytest.mark.slow
async def test_the_api_service_stops_cleanly_on_sigterm(
    external: ProctorSettings, isolated_environment: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(Path(sysconfig.get_path("scripts")) / "proctor"), "services", "api", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 60)
        assert first.decode().strip() == "Proctor service api ready"
        process.send_signal(signal.SIGTERM)
        rest, errors = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    assert rest.decode().splitlines()[-1] == "Proctor service api stopped"
    assert read_discovery(isolated_environment) is None
