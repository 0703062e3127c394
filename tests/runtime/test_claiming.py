"""Claiming: every requested run is executed exactly once, whatever the number of workers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from proctor.runtime.orchestration import RunPlane
from proctor.runtime.worker import ProcessLauncher, Worker
from tests.runtime.conftest import StateFeed, request

pytestmark = pytest.mark.nats


@pytest.mark.slow  # 200 processes: 4-10 s on two cores
async def test_two_workers_execute_200_queued_runs_exactly_once(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    entries = [
        await request(plane, "record", {"path": str(ledger), "label": f"run-{i}"})
        for i in range(200)
    ]
    url = plane.bus.nc.connected_url
    assert url is not None
    nats_url = f"nats://{url.hostname}:{url.port}"
    workers = [
        Worker(plane, "pool", launcher=ProcessLauncher(), nats_url=nats_url, limit=8)
        for _ in range(2)
    ]
    for worker in workers:
        await worker.start()
    try:
        finals = await feed.finals(200, timeout_s=60)
    finally:
        for worker in workers:
            await worker.stop()

    assert {f.state.name for f in finals} == {"Completed"}
    executed = Counter(ledger.read_text().split())
    assert executed == Counter(f"run-{i}" for i in range(200))
    assert sum(w.claimed for w in workers) == 200
    assert all(w.claimed > 0 for w in workers)
    for entry in entries[:5]:
        assert feed.names(entry.id) == ["Scheduled", "Pending", "Running", "Completed"]
