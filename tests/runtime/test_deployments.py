"""Deployments: stored and looked up by flow/name, runs requested from them, pools readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from proctor.core.errors import ObjectNotFoundError
from proctor.runtime.deployments import Cron, DeploymentSpec, Interval, Runtime, WorkPoolSpec
from proctor.runtime.orchestration import QueueConfig
from proctor.runtime.run_events import FlowRunSnapshot
from tests.runtime.conftest import StateFeed, running_workers, spec

pytestmark = pytest.mark.nats


async def test_a_deployment_is_saved_once_by_flow_and_name_and_creates_its_pool(
    runtime: Runtime, feed: StateFeed
) -> None:
    created = await runtime.deployments.apply(
        spec(parameters={"path": "/dev/null"}, work_queue="urgent", tags=["nightly"])
    )
    again = await runtime.deployments.apply(spec(parameters={"path": "/tmp/x"}))
    assert again.id == created.id
    assert again.parameters == {"path": "/tmp/x"}
    assert (await runtime.deployments.get("record/nightly")).id == created.id
    assert (await runtime.deployments.get(str(created.id))).full_name == "record/nightly"
    assert [d.full_name for d in await runtime.deployments.all()] == ["record/nightly"]

    pool = await runtime.pools.get("pool")
    assert [(q.name, q.priority) for q in pool.queues] == [("default", 1), ("urgent", 2)]
    assert pool.status == "not_ready"  # no worker yet

    paused = await runtime.deployments.set_paused("record/nightly", True)
    assert paused.paused
    assert await runtime.deployments.delete("record/nightly")
    with pytest.raises(ObjectNotFoundError, match="record/nightly"):
        await runtime.deployments.get("record/nightly")


async def test_schedules_are_stored_as_data_with_their_catch_up_policy(runtime: Runtime) -> None:
    deployment = await runtime.deployments.apply(
        spec(
            schedules=[Cron("0 9 * * 1-5", timezone="Europe/Paris"), Interval(3600, active=False)],
            catch_up={"policy": "skip"},
        )
    )
    row = await runtime.deployments.store.deployments.get(deployment.id)
    assert row is not None
    assert row.schedules == [
        {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "active": True,
         "catch_up": {"policy": "skip", "grace": "PT1M"}},
        {"interval_s": 3600.0, "active": False, "catch_up": {"policy": "skip", "grace": "PT1M"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedules": [{"cron": "61 * * * *"}]}, "cron"),
        ({"schedules": [{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}]}, "Mars/Olympus"),
        ({"work_pool": "has space"}, "work pool name"),
        ({"work_pool": "_serve"}, "reserved"),
        ({"name": "a/b"}, "cannot contain '/'"),
        ({"concurrency_limit": 0}, "concurrency_limit"),
    ],
)
def test_invalid_deployments_are_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


async def test_a_run_requested_from_a_deployment_merges_parameters_and_tags(
    runtime: Runtime, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    await runtime.deployments.apply(
        spec(parameters={"path": str(ledger), "label": "default"}, tags=["team-a"])
    )
    entry, created = await runtime.deployments.request_run(
        "record/nightly", parameters={"label": "given"}, tags=["adhoc"], idempotency_key="k1"
    )
    same, created_again = await runtime.deployments.request_run(
        "record/nightly", parameters={"label": "other"}, idempotency_key="k1"
    )
    assert (created, created_again, same.id) == (True, False, entry.id)
    assert entry.run.tags == ("team-a", "adhoc")
    assert entry.run.deployment_name == "nightly"
    assert entry.run.work_pool == "pool"
    async with running_workers(runtime.plane):
        done = await feed.until(entry.id, "Completed")
        pool = await runtime.pools.get("pool")
        assert pool.status == "ready"
        assert pool.queues[0].ready
        assert (await runtime.deployments.get("record/nightly")).status == "ready"
    assert ledger.read_text().split() == ["given"]
    assert isinstance(done.run, FlowRunSnapshot)
    assert done.run.parameters == {"path": str(ledger), "label": "given"}


async def test_a_queue_without_a_live_worker_is_not_ready(runtime: Runtime) -> None:
    await runtime.pools.apply(
        WorkPoolSpec(name="pool", queues=[QueueConfig(name="a"), QueueConfig(name="b")])
    )
    async with running_workers(runtime.plane, queues=("a",)):
        pool = await runtime.pools.get("pool")
    assert {q.name: q.status for q in pool.queues} == {"a": "ready", "b": "not_ready"}
    assert [w.queues for w in pool.workers] == [("a",)]
    paused = await runtime.pools.set_paused("pool", True)
    assert paused.status == "paused"


async def test_unknown_deployments_and_pools_are_named_in_the_error(runtime: Runtime) -> None:
    with pytest.raises(ObjectNotFoundError, match="no deployment 'nope/x'"):
        await runtime.deployments.request_run("nope/x")
    with pytest.raises(ObjectNotFoundError, match="no work pool 'nope'"):
        await runtime.pools.get("nope")


def test_a_served_deployment_needs_no_pool() -> None:
    served = DeploymentSpec(name="dev", flow_name="f", entrypoint="f.py:f")
    assert served.work_pool is None
