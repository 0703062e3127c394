"""Concurrency limits: by tag and by deployment, enforced across workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.events.ids import uuid7
from proctor.runtime.orchestration import CollisionStrategy, RunPlane
from proctor.runtime.run_events import StateChange
from tests.runtime.conftest import StateFeed, request, running_workers

pytestmark = pytest.mark.nats


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def intervals(ledger: Path) -> list[tuple[float, float]]:
    """The (start, end) lines the ``timed`` flows wrote."""
    pairs = [line.split() for line in ledger.read_text().splitlines()]
    return [(float(start), float(end)) for start, end in pairs]


def running_intervals(feed: StateFeed, finals: list[StateChange]) -> list[tuple[float, float]]:
    started = {c.run.id: c.state.timestamp for c in feed.changes if c.state.name == "Running"}
    return [
        (started[f.run.id].timestamp(), f.state.timestamp.timestamp())
        for f in finals
        if f.run.id in started
    ]


async def test_a_tag_limit_of_2_keeps_at_most_2_tagged_runs_running(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    await plane.slots.set_tag_limit("db", 2)
    ledger = tmp_path / "ledger"
    tagged = [
        await request(plane, "timed", {"path": str(ledger), "seconds": 0.3}, tags=["db", "x"])
        for _ in range(6)
    ]
    free = await request(plane, "record", {"path": str(tmp_path / "free")}, tags=["x"])
    async with running_workers(plane, 2, limit=4):
        finals = await feed.finals(7, timeout_s=60)
    assert {f.state.name for f in finals} == {"Completed"}
    tagged_ids = {entry.id for entry in tagged}

    own = intervals(ledger)
    assert len(own) == 6
    assert most_at_once(own) == 2  # measured by the flows themselves: the limit, and used
    by_events = running_intervals(feed, [f for f in finals if f.run.id in tagged_ids])
    assert most_at_once(by_events) <= 2
    assert free.id in {f.run.id for f in finals}
    assert await plane.slots.held("tag.db") == []  # every slot given back


async def test_a_deployment_limit_with_cancel_new_cancels_runs_over_the_limit(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    deployment = uuid7()
    first = await request(
        plane,
        "long_running",
        {},
        deployment_id=deployment,
        concurrency_limit=1,
        collision_strategy=CollisionStrategy.CANCEL_NEW,
    )
    async with running_workers(plane):
        await feed.started_pid()
        second = await request(
            plane,
            "record",
            {"path": str(tmp_path / "never")},
            deployment_id=deployment,
            concurrency_limit=1,
            collision_strategy=CollisionStrategy.CANCEL_NEW,
        )
        cancelled = await feed.until(second.id, "Cancelled")
        assert cancelled.state.message is not None
        assert "concurrency limit of 1" in cancelled.state.message
        assert feed.names(first.id)[-1] == "Running"
    assert not (tmp_path / "never").exists()


async def test_a_deployment_limit_with_enqueue_runs_the_next_when_a_slot_frees(
    plane: RunPlane, feed: StateFeed, tmp_path: Path
) -> None:
    deployment, ledger = uuid7(), tmp_path / "ledger"
    entries = [
        await request(
            plane,
            "timed",
            {"path": str(ledger), "seconds": 0.2},
            deployment_id=deployment,
            concurrency_limit=1,
        )
        for _ in range(3)
    ]
    async with running_workers(plane, 2, limit=3):
        finals = await feed.finals(3)
    assert {f.state.name for f in finals} == {"Completed"}
    own = intervals(ledger)
    assert most_at_once(own) == 1
    assert len(entries) == len(own)
