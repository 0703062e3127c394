"""Deployments from Python: flow.deploy, run_deployment, flow.serve (in process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import proctor
from proctor.core.errors import ConfigurationError
from proctor.runtime.deployments import Deployment, Runtime
from proctor.runtime.orchestration import EntryStatus, RunPlane
from proctor.runtime.worker import Worker
from proctor.runtime.worker.serve import aserve
from tests.runtime import flows_for_tests
from tests.runtime.conftest import StateFeed, running_workers

pytestmark = pytest.mark.nats


async def test_flow_deploy_then_run_deployment_waits_for_the_run(
    api_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    deployment = await asyncio.to_thread(
        flows_for_tests.record.deploy,
        "nightly",
        work_pool="pool",
        parameters={"path": str(ledger)},
        cron="0 3 * * *",
        timezone="Europe/Paris",
        tags=["nightly"],
    )
    assert deployment.full_name == "record/nightly"
    assert deployment.entrypoint == "tests.runtime.flows_for_tests:record"
    assert deployment.schedules[0].model_dump()["timezone"] == "Europe/Paris"

    queued = await proctor.arun_deployment("record/nightly", {"label": "later"}, timeout_s=0)
    assert (queued.status, queued.state.name) == (EntryStatus.QUEUED, "Scheduled")
    async with running_workers(runtime.plane):
        done = await asyncio.to_thread(
            proctor.run_deployment, "record/nightly", {"label": "now"}, timeout_s=30
        )
    assert done.state.name == "Completed"
    assert sorted(ledger.read_text().split()) == ["later", "now"]


def test_deploying_needs_a_pool_and_parameters_that_fit() -> None:
    with pytest.raises(ConfigurationError, match="work_pool="):
        flows_for_tests.record.deploy("x")
    with pytest.raises(ConfigurationError, match="parameters do not fit"):
        flows_for_tests.record.deploy("x", work_pool="pool", parameters={"nope": 1})


async def test_serve_runs_the_deployment_in_process(
    api_url: str, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    stop, ready = asyncio.Event(), asyncio.Event()
    served: list[Any] = []

    def on_ready(deployment: Deployment, worker: Worker) -> None:
        served.append(deployment)
        ready.set()

    serving = asyncio.create_task(
        aserve(
            flows_for_tests.record,
            "dev",
            {"parameters": {"path": str(ledger)}},
            stop=stop,
            on_ready=on_ready,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)
        assert served[0].work_pool is None
        done = await proctor.arun_deployment("record/dev", {"label": "served"}, timeout_s=30)
        assert done.state.name == "Completed"
    finally:
        stop.set()
        await serving
    assert ledger.read_text().split() == ["served"]


async def test_flow_aserve_serves_from_async_code_until_stopped(
    api_url: str, plane: RunPlane, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    stop = asyncio.Event()
    started = await plane.bus.subscribe("proctor.worker.started")
    try:
        serving = asyncio.create_task(
            flows_for_tests.record.aserve("async-dev", stop=stop, parameters={"path": str(ledger)})
        )
        await started.next(30)
    finally:
        await started.close()
    try:
        done = await proctor.arun_deployment("record/async-dev", {"label": "a"}, timeout_s=30)
        assert done.state.name == "Completed"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    assert ledger.read_text().split() == ["a"]


async def test_blocking_serve_inside_an_event_loop_says_to_await_aserve() -> None:
    with pytest.raises(ConfigurationError, match=r"await flow\.aserve"):
        flows_for_tests.record.serve("x")
