"""The runtime's CLI: proctor deploy, deployment, work-pool, concurrency-limit, worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from proctor.cli.main import app
from proctor.runtime.deployments import Runtime
from tests.runtime.conftest import running_workers

pytestmark = pytest.mark.nats
runner = CliRunner()
ENTRYPOINT = "tests/runtime/flows_for_tests.py:record"


async def proctor(*args: str) -> Result:
    """Run the CLI in a thread (its commands run their own event loop)."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def test_deploy_creates_a_deployment_that_deployment_commands_show(api_url: str) -> None:
    created = await proctor(
        "deploy", ENTRYPOINT, "--name", "nightly", "--pool", "pool",
        "--cron", "0 3 * * *", "--timezone", "Europe/Paris", "--param", "path=/dev/null",
        "--param", "label=\"x\"", "--tag", "team-a",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "Deployment record/nightly" in created.output
    assert "no worker serves it yet: proctor worker start --pool pool" in created.output

    listed = await proctor("deployment", "ls")
    assert listed.exit_code == 0
    assert "record/nightly" in listed.output
    assert "0 3 * * * (Europe/Paris)" in listed.output
    inspected = json.loads(
        (await proctor("deployment", "inspect", "record/nightly", "--json")).output
    )
    assert inspected["parameters"] == {"path": "/dev/null", "label": "x"}
    assert inspected["tags"] == ["team-a"]

    paused = await proctor("deployment", "pause", "record/nightly")
    assert paused.exit_code == 0
    assert "paused" in paused.output
    assert "paused" in (await proctor("deployment", "ls")).output
    assert (await proctor("deployment", "resume", "record/nightly")).exit_code == 0
    deleted = await proctor("deployment", "delete", "record/nightly", "--yes")
    assert deleted.exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.py:flow"], "entrypoint file 'nope.py' not found"),
        ([f"{ENTRYPOINT[:-7]}:missing"], "has no attribute 'missing'"),
        ([ENTRYPOINT, "--cron", "99 * * * *"], "cron"),
        ([ENTRYPOINT, "--param", "novalue"], "--param: 'novalue'"),
        ([ENTRYPOINT, "--param", "nope=1"], "parameters do not fit"),
        ([ENTRYPOINT, "--collision-strategy", "drop"], "--collision-strategy"),
    ],
)
async def test_deploy_refuses_bad_input_in_one_line(
    api_url: str, args: list[str], message: str
) -> None:
    result = await proctor("deploy", *args, "--name", "x", "--pool", "pool")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


async def test_deployment_run_watch_exits_with_the_run_s_outcome(
    api_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    await proctor("deploy", ENTRYPOINT, "--name", "n", "--pool", "pool")
    async with running_workers(runtime.plane):
        result = await proctor(
            "deployment", "run", "record/n", "--param", f"path={ledger}", "--param",
            "label=cli", "--watch", "--timeout", "30",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "requested" in result.output
    assert "Completed" in result.output
    assert ledger.read_text().split() == ["cli"]

    queued = await proctor("deployment", "run", "record/n", "--json")
    assert json.loads(queued.output)["state"]["name"] == "Scheduled"
    missing = await proctor("deployment", "run", "record/nope")
    assert missing.exit_code == 1
    assert "no deployment 'record/nope'" in missing.output


async def test_work_pools_and_tag_limits_from_the_cli(api_url: str, runtime: Runtime) -> None:
    created = await proctor("work-pool", "create", "pool", "--queue", "high:1", "--queue", "low:2")
    assert created.exit_code == 0, created.output
    assert "not ready" in created.output
    async with running_workers(runtime.plane, queues=("high",)):
        inspected = await proctor("work-pool", "inspect", "pool")
    assert inspected.exit_code == 0
    lines = {line.split()[0]: line for line in inspected.output.splitlines() if line.strip()}
    assert "ready" in lines["high"]
    assert "not ready" in lines["low"]
    assert "worker" in inspected.output
    assert (await proctor("work-pool", "pause", "pool")).exit_code == 0
    assert "paused" in (await proctor("work-pool", "ls")).output
    missing = await proctor("work-pool", "inspect", "nope")
    assert (missing.exit_code, "no work pool 'nope'" in missing.output) == (1, True)

    assert (await proctor("concurrency-limit", "set", "db", "2")).exit_code == 0
    assert "db" in (await proctor("concurrency-limit", "ls")).output
    assert (await proctor("concurrency-limit", "rm", "db")).exit_code == 0
    gone = await proctor("concurrency-limit", "rm", "db")
    assert (gone.exit_code, "no concurrency limit" in gone.output) == (1, True)


async def test_worker_start_refuses_a_bad_pool_name(api_url: str) -> None:
    result = await proctor("worker", "start", "--pool", "has space")
    assert result.exit_code == 1
    assert "work pool name 'has space'" in result.output
