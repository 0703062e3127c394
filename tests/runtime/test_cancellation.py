"""Cancellation: Cancelling, the run's process stopped, Cancelled, on_cancellation hooks run."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.runtime.orchestration import EntryStatus, RunPlane, cancel_run
from tests.runtime.conftest import StateFeed, process_gone, request, running_workers

pytestmark = pytest.mark.nats


@pytest.mark.parametrize("flow", ["long_running", "long_running_async"])
async def test_cancelling_a_long_running_run_stops_its_process_and_calls_the_hook(
    plane: RunPlane, feed: StateFeed, tmp_path: Path, flow: str
) -> None:
    hook_file = tmp_path / "hook"
    async with running_workers(plane) as (worker,):
        entry = await request(
            plane,
            flow,
            {},
            env={"PROCTOR_TEST_HOOK_FILE": str(hook_file)},
        )
        run_pid = await feed.started_pid()
        await feed.until(entry.id, "Running")

        cancelling = await cancel_run(plane, entry.id, "no longer needed")
        assert cancelling is not None
        assert cancelling.state.name == "Cancelling"
        cancelled = await feed.until(entry.id, "Cancelled")
        await process_gone(run_pid)

    assert feed.names(entry.id) == ["Scheduled", "Pending", "Running", "Cancelling", "Cancelled"]
    assert cancelled.previous_state is not None
    assert cancelled.previous_state.name == "Cancelling"
    assert cancelled.state.message == "no longer needed"
    assert hook_file.read_text() == f"{entry.id} Cancelled"
    found = await plane.board.get(entry.id)
    assert found is not None
    assert found[0].status is EntryStatus.FINAL
    assert not worker.held


async def test_a_queued_run_is_cancelled_at_once_and_never_started(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    entry = await request(plane, "record", {"path": str(ledger)})
    cancelled = await cancel_run(plane, entry.id)
    assert cancelled is not None
    assert cancelled.state.name == "Cancelled"
    again = await cancel_run(plane, entry.id)  # cancelling an ended run changes nothing
    assert again is not None
    assert again.state.id == cancelled.state.id

    other = await request(plane, "record", {"path": str(ledger), "label": "other"})
    async with running_workers(plane):
        await feed.until(other.id, "Completed")
    assert ledger.read_text() == "other\n"
    assert feed.names(entry.id) == ["Scheduled", "Cancelled"]


async def test_cancelling_an_unknown_run_says_so(plane: RunPlane) -> None:
    from proctor.events.ids import uuid7

    assert await cancel_run(plane, uuid7()) is None
