"""``proctor run ls | inspect | logs | watch`` against a real server with real flow runs:
tables for people, JSON for scripts, exit codes scripts can trust, errors in one line."""

from __future__ import annotations

import asyncio
import json
import os
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from proctor import flow, get_run_logger
from proctor.cli.main import app
from proctor.core.settings import ProctorSettings
from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.store import FlowRunFilter
from tests.cli.conftest import proctor as cli
from tests.server.conftest import caught_up
from tests.ui.deploying import deploy, request_run, worker
from tests.ui.flows import etl, nightly_report

pytestmark = pytest.mark.nats
PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")
runner = CliRunner()


async def proctor(*args: str) -> Result:
    """``proctor run ARGS`` against the test's server."""
    return await cli("run", *args)


async def two_runs(server: LocalServer) -> tuple[str, str]:
    """A completed `nightly-report` run and a failed `etl` run, recorded; their names."""
    await asyncio.to_thread(nightly_report)
    await asyncio.to_thread(etl, return_state=True)
    await caught_up(server)
    async with ProctorClient.from_settings(ProctorSettings()) as client:
        runs = (await client.flow_runs.list()).items
    by_flow = {run.flow_name: run.name for run in runs}
    return by_flow["nightly-report"], by_flow["etl"]


async def test_ls_prints_a_table_and_json_and_filters(server: LocalServer) -> None:
    completed, failed = await two_runs(server)

    table = await proctor("ls")
    assert table.exit_code == 0, table.output
    assert completed in table.stdout
    assert failed in table.stdout
    assert "Failed" in table.stdout
    assert "Completed" in table.stdout

    listed = json.loads((await proctor("ls", "--json")).stdout)
    assert {run["name"] for run in listed} == {completed, failed}
    only_failed = json.loads((await proctor("ls", "--state", "failed", "--json")).stdout)
    assert [run["name"] for run in only_failed] == [failed]
    by_flow = json.loads((await proctor("ls", "--flow", "nightly-report", "--json")).stdout)
    assert [run["name"] for run in by_flow] == [completed]
    recent = json.loads((await proctor("ls", "--since", "1h", "--json")).stdout)
    assert len(recent) == 2


async def test_inspect_shows_the_error_states_and_task_runs(server: LocalServer) -> None:
    _, failed = await two_runs(server)

    shown = await proctor("inspect", failed)
    assert shown.exit_code == 0, shown.output
    assert "ValueError: validation failed: 8 rows, expected 100" in shown.stdout
    for state in ("Pending", "Running", "Failed"):
        assert state in shown.stdout
    assert "12 task runs" in shown.stdout
    assert "validate-0" in shown.stdout

    data = json.loads((await proctor("inspect", failed, "--json")).stdout)
    assert data["run"]["state"]["type"] == "FAILED"
    assert [s["name"] for s in data["states"]] == ["Pending", "Running", "Failed"]
    assert len(data["task_runs"]) == 12
    by_id = json.loads((await proctor("inspect", data["run"]["id"], "--json")).stdout)
    assert by_id["run"]["name"] == failed


async def test_logs_prints_lines_filtered_by_level_and_as_json(server: LocalServer) -> None:
    _, failed = await two_runs(server)

    lines = await proctor("logs", failed)
    assert lines.exit_code == 0, lines.output
    assert "loading into warehouse" in lines.stdout
    assert "WARNING  row 3 looks odd" in lines.stdout
    warnings = await proctor("logs", failed, "--level", "warning")
    assert "row 3 looks odd" in warnings.stdout
    assert "loading into warehouse" not in warnings.stdout
    records = [
        json.loads(line) for line in (await proctor("logs", failed, "--json")).stdout.splitlines()
    ]
    assert "loading into warehouse" in [record["message"] for record in records]


async def test_watch_exits_with_the_outcome_of_a_finished_run(server: LocalServer) -> None:
    completed, failed = await two_runs(server)

    ok = await proctor("watch", completed)
    assert ok.exit_code == 0, ok.output
    assert "Completed" in ok.stdout
    bad = await proctor("watch", failed, "--json")
    assert bad.exit_code == 1
    (last,) = [json.loads(line) for line in bad.stdout.splitlines()]
    assert last["type"] == "FAILED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "no-such-run"], "no flow run named 'no-such-run'"),
        (["inspect", "0190b0a8-3c1e-7000-8000-000000000001"], "no flow run with id"),
        (["ls", "--since", "yesterday"], "--since: 'yesterday' is not a duration"),
        (["logs", "x", "--level", "LOUD"], "--level: 'LOUD' is not one of"),
        (["ls", "--deployment", "prod"], "--deployment: give a deployment id"),
    ],
)
async def test_bad_input_is_one_line_and_exit_1(
    server: LocalServer, args: list[str], message: str
) -> None:
    result = await proctor(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_without_a_server_it_says_how_to_start_one() -> None:
    result = runner.invoke(app, ["run", "ls"])
    assert result.exit_code == 1
    assert "proctor server start" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- live: the CLI as a separate process while a flow runs in this one ---


class Gate:
    """A flow that says when it started and waits to be let through (then passes or fails)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = False

    def open(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.release.set()


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate()
    yield opened
    opened.release.set()  # never leave a flow thread waiting


def gated_flow(gate: Gate) -> None:
    @flow(name="gated")
    def gated() -> str:
        log = get_run_logger()
        log.info("before the gate")
        gate.started.set()
        assert gate.release.wait(60), "the test never opened the gate"
        log.info("through the gate")
        if gate.fail:
            raise RuntimeError("told to fail")
        return "done"

    gated(return_state=True)


async def start_gated(server: LocalServer, gate: Gate) -> tuple[asyncio.Future[None], str]:
    """Start the gated flow in a thread; once it runs and is recorded, its run's name."""
    assert server.bus is not None
    states = await server.bus.subscribe("proctor.flow-run.Running")
    try:
        running = asyncio.ensure_future(asyncio.to_thread(gated_flow, gate))
        await states.next(30)  # the Running event is in the stream...
    finally:
        await states.close()
    await caught_up(server)  # ...and recorded
    async with ProctorClient.from_settings(ProctorSettings()) as client:
        (run,) = (await client.flow_runs.list(FlowRunFilter(flow_names=["gated"]))).items
    return running, run.name


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        PROCTOR, "run", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )  # fmt: skip


async def line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), 30)).decode()


async def until(process: asyncio.subprocess.Process, text: str, lines: int = 10) -> bool:
    """Whether ``text`` appears within the next ``lines`` lines of the process's output."""
    for _ in range(lines):
        if text in await line(process):
            return True
    return False


@pytest.mark.parametrize(("fail", "code", "final"), [(False, 0, "Completed"), (True, 1, "Failed")])
async def test_watch_follows_a_live_run_and_exits_with_its_outcome(
    server: LocalServer, gate: Gate, fail: bool, code: int, final: str
) -> None:
    running, name = await start_gated(server, gate)
    watcher = await spawn("watch", name)
    assert "Running" in await line(watcher)  # the current state, first

    gate.open(fail=fail)
    assert final in await line(watcher)
    assert await asyncio.wait_for(watcher.wait(), 30) == code
    await running


async def test_logs_follow_prints_new_lines_until_the_run_ends(
    server: LocalServer, gate: Gate
) -> None:
    running, name = await start_gated(server, gate)
    follower = await spawn("logs", name, "--follow")
    assert await until(follower, "before the gate")  # recorded lines first, then new ones

    gate.open()
    assert await until(follower, "through the gate")
    assert await until(follower, "Finished in state Completed")
    assert await asyncio.wait_for(follower.wait(), 30) == 0
    await running


async def test_watch_gives_up_after_its_timeout_with_exit_124(
    server: LocalServer, gate: Gate
) -> None:
    running, name = await start_gated(server, gate)
    result = await proctor("watch", name, "--timeout", "0.5")
    assert result.exit_code == 124
    assert f"run {name} has not ended after 0.5s" in result.output
    gate.open()
    await running


async def test_cancel_stops_a_deployed_run_then_refuses_an_ended_one(server: LocalServer) -> None:
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        await deploy(http)
        async with worker(server):
            name = await request_run(server, http)
            cancelled = await proctor("cancel", name, "--message", "not today")
            assert cancelled.exit_code == 0, cancelled.output
            assert "Cancelled" in cancelled.stdout
            assert "not today" in cancelled.stdout

            again = await proctor("cancel", name)
            assert again.exit_code == 1
            assert "has ended (Cancelled): nothing to cancel" in again.output
            assert len(again.output.strip().splitlines()) == 1

            retried = await proctor("retry", name, "--json")
            assert retried.exit_code == 0, retried.output
            new_run = json.loads(retried.stdout)
            assert new_run["name"] != name
            assert new_run["deployment_name"] == "slowly"
            cancelled_again = await proctor("cancel", new_run["flow_run_id"])
            assert cancelled_again.exit_code == 0, cancelled_again.output


async def test_cancel_of_a_script_run_says_why_it_cannot(server: LocalServer) -> None:
    completed, _ = await two_runs(server)
    result = await proctor("cancel", completed)
    assert result.exit_code == 1
    assert "only runs requested from a deployment can be cancelled" in result.output
