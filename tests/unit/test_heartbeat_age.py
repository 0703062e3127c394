"""The heartbeat-age gauge a scrape exposes: seconds since each worker's last beat, never < 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from proctor.runtime.metrics import SharedState, exposition
from proctor.runtime.orchestration import WorkerBeat

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _beat(worker_id: str, sent: datetime) -> WorkerBeat:
    return WorkerBeat(
        id=worker_id,
        name=worker_id,
        pool="pool",
        queues=("default",),
        limit=None,
        running=0,
        heartbeat_s=5.0,
        started=NOW - timedelta(minutes=1),
        sent=sent,
    )


def _ages(state: SharedState) -> dict[str, float]:
    families = text_string_to_metric_families(exposition(state).decode())
    return {
        sample.labels["worker"]: sample.value
        for family in families
        if family.name == "proctor_worker_heartbeat_age_seconds"
        for sample in family.samples
    }


def test_an_age_is_the_time_since_the_beat_and_a_beat_after_the_reading_is_fresh() -> None:
    state = SharedState(NOW)
    state.workers = [
        _beat("old", NOW - timedelta(seconds=7.5)),
        # Sent while the scrape read the beats, or by a worker whose clock runs ahead.
        _beat("ahead", NOW + timedelta(milliseconds=4)),
    ]
    assert _ages(state) == {"old": 7.5, "ahead": 0.0}
