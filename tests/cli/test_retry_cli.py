"""Deployment runs from the CLI, against a real server and a real worker process: requesting,
watching and retrying a run, with exit codes that follow each run's outcome. The flow fails
its first attempts (counted in a ledger file), so a retry can fail or complete."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from proctor.runtime.server import LocalServer
from tests.cli.conftest import one_line_error, proctor
from tests.server.conftest import caught_up
from tests.ui.deploying import FLOWS, deploy, request_run, worker
from tests.ui.flows import nightly_report

pytestmark = pytest.mark.nats
TIMEOUT = "120"  # a worker process runs each attempt: generous on a loaded machine


async def test_run_watch_and_retry_exit_with_each_run_s_outcome(
    server: LocalServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    async with httpx.AsyncClient(base_url=server.api_url, timeout=60) as http:
        await deploy(
            http, name="twice", flow_name="flaky", entrypoint=f"{FLOWS}:flaky",
            parameters={"ledger": str(ledger), "failures": 2},
        )  # fmt: skip
        queued = await proctor("deployment", "run", "flaky/twice", "--json")
        assert queued.exit_code == 0, queued.output
        first = json.loads(queued.stdout)
        assert first["state"]["name"] == "Scheduled"
        await caught_up(server)
        one_line_error(
            await proctor("run", "retry", first["name"]),
            "has not ended (Scheduled): cancel it first",
        )

        async with worker(server):
            failed = await proctor("run", "watch", first["name"], "--timeout", TIMEOUT)
            assert failed.exit_code == 1, failed.output
            assert "attempt 1 of 3 fails on purpose" in failed.stdout

            again = await proctor("run", "retry", first["name"], "--watch", "--timeout", TIMEOUT)
            assert again.exit_code == 1, again.output  # the second attempt fails too
            assert f"retries {first['name']}" in again.stdout
            assert "attempt 2 of 3 fails on purpose" in again.stdout
            assert "ended Failed" in again.stderr

            third = await proctor(
                "run", "retry", first["name"], "--watch", "--json", "--timeout", TIMEOUT
            )
            assert third.exit_code == 0, third.output
            lines = [json.loads(line) for line in third.stdout.splitlines()]  # JSON only
            assert lines[0]["state"]["name"] == "Scheduled"
            assert lines[-1]["state"]["name"] == "Completed"
            retried = lines[0]["flow_run_id"]

            direct = await proctor(
                "deployment", "run", "flaky/twice", "--param", "failures=9", "--watch",
                "--timeout", TIMEOUT,
            )  # fmt: skip
            assert direct.exit_code == 1, direct.output
            assert "attempt 4 of 10 fails on purpose" in direct.stdout

    await caught_up(server)
    shown = json.loads((await proctor("run", "inspect", retried, "--json")).stdout)
    assert shown["run"]["retry_of"] == first["flow_run_id"]
    assert shown["run"]["parameters"]["failures"] == 2
    table = (await proctor("run", "inspect", retried)).stdout
    assert re.search(rf"retry of\s+{first['flow_run_id']}", table), table
    assert ledger.read_text().split("\n")[:-1] == [f"attempt {n}" for n in range(1, 5)]


async def test_retry_of_a_run_that_no_deployment_requested_says_why(server: LocalServer) -> None:
    await asyncio.to_thread(nightly_report)
    await caught_up(server)
    (run,) = json.loads((await proctor("run", "ls", "--json")).stdout)
    one_line_error(
        await proctor("run", "retry", run["name"]),
        "only runs requested from a deployment can be cancelled or retried",
    )


async def test_cancel_without_waiting_then_watch_exits_1_for_the_cancelled_run(
    server: LocalServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.api_url, timeout=60) as http:
        await deploy(http)
        async with worker(server):
            name = await request_run(server, http)
            asked = await proctor("run", "cancel", name, "--no-wait", "--json")
            assert asked.exit_code == 0, asked.output
            assert json.loads(asked.stdout)["name"] == "Cancelling"
            watched = await proctor("run", "watch", name, "--json", "--timeout", TIMEOUT)
            assert watched.exit_code == 1, watched.output
            assert json.loads(watched.stdout.splitlines()[-1])["type"] == "CANCELLED"
