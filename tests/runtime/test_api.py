"""The runtime's HTTP API: deployments, run requests, run commands, pools, tag limits."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
import pytest

from proctor.runtime.deployments import Runtime
from tests.runtime.conftest import FLOWS, FLOWS_DIR, StateFeed, running_workers

pytestmark = pytest.mark.nats

DEPLOYMENT = {
    "name": "nightly",
    "flow_name": "record",
    "entrypoint": f"{FLOWS}:record",
    "work_pool": "pool",
    "parameters": {"path": "/dev/null"},
    "schedules": [{"cron": "0 3 * * *", "timezone": "Europe/Paris"}],
    "job_variables": {"working_dir": FLOWS_DIR},
}


async def test_deployments_are_created_read_changed_and_deleted(http: httpx.AsyncClient) -> None:
    created = await http.post("/api/deployments", json=DEPLOYMENT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "not_ready"
    assert body["schedules"][0]["timezone"] == "Europe/Paris"
    again = await http.post("/api/deployments", json={**DEPLOYMENT, "tags": ["x"]})
    assert (again.status_code, again.json()["id"]) == (200, body["id"])

    listed = (await http.get("/api/deployments")).json()
    assert [d["name"] for d in listed["items"]] == ["nightly"]
    by_name = await http.get("/api/deployments/name/record/nightly")
    assert by_name.json()["tags"] == ["x"]

    patched = await http.patch(f"/api/deployments/{body['id']}", json={"concurrency_limit": 2})
    assert patched.json()["concurrency_limit"] == 2
    bad = await http.patch(f"/api/deployments/{body['id']}", json={"work_pool": "a b"})
    assert bad.status_code == 422
    assert "work_pool" in bad.json()["error"]["message"]
    paused = await http.post(f"/api/deployments/{body['id']}/pause")
    assert paused.json()["paused"] is True
    resumed = await http.post(f"/api/deployments/{body['id']}/resume")
    assert resumed.json()["paused"] is False

    assert (await http.delete(f"/api/deployments/{body['id']}")).status_code == 204
    missing = await http.get(f"/api/deployments/{body['id']}")
    assert missing.status_code == 404
    assert "no deployment" in missing.json()["error"]["message"]


async def test_invalid_deployments_are_422_naming_the_field(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/api/deployments", json={**DEPLOYMENT, "schedules": [{"cron": "0 3 * *"}]}
    )
    assert answer.status_code == 422
    assert "schedules" in answer.json()["error"]["field"]


async def test_a_run_is_requested_followed_and_cancelled_through_the_api(
    http: httpx.AsyncClient, runtime: Runtime, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    await http.post("/api/deployments", json=DEPLOYMENT)
    requested = await http.post(
        "/api/deployments/name/record/nightly/runs",
        json={"parameters": {"path": str(ledger), "label": "api"}, "idempotency_key": "once"},
    )
    assert requested.status_code == 201, requested.text
    run = requested.json()
    assert (run["status"], run["state"]["name"], run["created"]) == ("queued", "Scheduled", True)
    repeated = await http.post(
        "/api/deployments/name/record/nightly/runs", json={"idempotency_key": "once"}
    )
    assert (repeated.status_code, repeated.json()["flow_run_id"]) == (200, run["flow_run_id"])

    async with running_workers(runtime.plane):
        state_id, name = run["state"]["id"], run["state"]["name"]
        while name != "Completed":  # each answer comes when the state changed
            answer = await http.get(
                f"/api/flow-runs/{run['flow_run_id']}/runtime",
                params={"wait_s": 10, "after": state_id},
            )
            state_id, name = answer.json()["state"]["id"], answer.json()["state"]["name"]
    assert ledger.read_text().split() == ["api"]

    ended = await http.post(f"/api/flow-runs/{run['flow_run_id']}/cancel")
    assert ended.status_code == 409
    assert "has ended (Completed)" in ended.json()["error"]["message"]
    unknown = await http.post("/api/flow-runs/01a1fca8-9403-7383-a52f-2003ccf5bac6/cancel")
    assert unknown.status_code == 404

    queued = (await http.post(f"/api/deployments/{run['deployment_id']}/runs", json={})).json()
    cancelled = await http.post(
        f"/api/flow-runs/{queued['flow_run_id']}/cancel", json={"message": "not today"}
    )
    assert cancelled.status_code == 202
    assert cancelled.json()["state"]["name"] == "Cancelled"
    recorded = await feed.until(UUID(queued["flow_run_id"]), "Cancelled")
    assert recorded.state.message == "not today"


async def test_pools_show_queue_readiness_and_tag_limits_are_set(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await http.post(
        "/api/work-pools", json={"name": "pool", "queues": [{"name": "default"}]}
    )
    assert created.status_code == 200, created.text
    added = await http.put("/api/work-pools/pool/queues/urgent", json={"priority": 2})
    assert [q["name"] for q in added.json()["queues"]] == ["default", "urgent"]
    async with running_workers(runtime.plane, queues=("default",)):
        pool = (await http.get("/api/work-pools/pool")).json()
        workers = (await http.get("/api/workers", params={"work_pool": "pool"})).json()
    assert {q["name"]: q["ready"] for q in pool["queues"]} == {"default": True, "urgent": False}
    assert len(workers["items"]) == 1
    paused = await http.patch("/api/work-pools/pool", json={"paused": True})
    assert paused.json()["status"] == "paused"
    assert (await http.get("/api/work-pools/nope")).status_code == 404

    limit = await http.put("/api/concurrency-limits/tag/db", json={"limit": 2})
    assert limit.json() == {"tag": "db", "limit": 2, "active": 0}
    assert (await http.get("/api/concurrency-limits")).json()["items"][0]["tag"] == "db"
    assert (await http.delete("/api/concurrency-limits/tag/db")).status_code == 204
    assert (await http.get("/api/concurrency-limits/tag/db")).status_code == 404
