"""``GET /metrics``: Prometheus metrics of runs, events, consumers, firings and workers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proctor import Automation, aemit_event, flow
from proctor.automations import EmitEvent
from proctor.events.bus import JetStreamEventBus
from proctor.events.model import utcnow
from proctor.runtime.metrics import exposition, read_shared_state
from proctor.runtime.orchestration import RunPlane, RuntimeOptions
from proctor.runtime.orchestration.model import WorkerBeat
from proctor.runtime.server import LocalServer
from proctor.runtime.worker import ProcessLauncher, Worker
from proctor.triggers import EventTrigger
from tests.server.conftest import caught_up

pytestmark = pytest.mark.nats

Labels = tuple[tuple[str, str], ...]


@flow
def breaks() -> None:
    raise RuntimeError("boom")


def _samples(text: str) -> dict[tuple[str, Labels], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(http: httpx.AsyncClient) -> dict[tuple[str, Labels], float]:
    answer = await http.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return _samples(answer.text)


def _sources_up(samples: dict[tuple[str, Labels], float]) -> dict[str, float]:
    return {
        dict(labels)["source"]: value
        for (name, labels), value in samples.items()
        if name == "proctor_metrics_source_up"
    }


async def test_metrics_show_runs_events_consumers_firings_and_workers(
    server: LocalServer,
) -> None:
    assert server.bus is not None
    rule = Automation(
        name="page on order",
        trigger=EventTrigger(expect={"shop.order.created"}),
        actions=[EmitEvent(event="ops.paged", resource={"proctor.resource.id": "ops"})],
    )
    plane = await RunPlane.open(server.bus, RuntimeOptions.fast())
    worker = Worker(plane, "metrics", launcher=ProcessLauncher(), nats_url=server.nats_url)
    outcomes = await server.bus.subscribe("proctor.automation.action.>")
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        assert (await http.post("/api/automations", json=rule.to_data())).status_code == 201
        before = await _scrape(http)
        await worker.start()
        try:
            with pytest.raises(RuntimeError):
                await asyncio.to_thread(breaks)
            await aemit_event("shop.order.created", resource={"proctor.resource.id": "order.1"})
            outcome = await outcomes.next(60)
            await caught_up(server)
            logs = await server.bus.js.stream_info(server.bus.naming.logs_stream)
            await server.recorders[1].wait_recorded(logs.state.last_seq, 60)
            after = await _scrape(http)
        finally:
            await outcomes.close()
            await worker.stop()

    def grew(name: str, *labels: tuple[str, str]) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert outcome.event == "proctor.automation.action.executed"
    assert after[("proctor_flow_runs", (("state", "Failed"),))] == 1
    assert grew("proctor_events_recorded_total", ("name", "proctor.flow-run.Failed")) == 1
    assert grew("proctor_events_recorded_total", ("name", "custom")) == 2  # the order, the page
    assert grew("proctor_log_lines_recorded_total") >= 2  # beginning, finished in Failed
    assert grew("proctor_automation_firings_total", ("automation", "page on order")) == 1
    executed = ("automation", "page on order"), ("outcome", "executed")
    assert grew("proctor_automation_actions_total", *executed) == 1
    assert after[("proctor_events_published_total", ())] >= 6
    assert after[("proctor_stream_messages", ())] >= 6
    lag = {dict(labels)["consumer"]: value for (name, labels), value in after.items()
           if name == "proctor_consumer_pending_messages"}  # fmt: skip
    assert any("recorder" in consumer for consumer in lag), lag
    (age,) = [
        value
        for (name, labels), value in after.items()
        if name.endswith("heartbeat_age_seconds") and ("pool", "metrics") in labels
    ]
    assert 0 <= age < 60
    assert _sources_up(after) == {"stream": 1, "runs": 1, "workers": 1}


async def test_a_scrape_says_which_sources_it_could_not_read(
    jetstream_bus: JetStreamEventBus,
) -> None:
    async def runs_by_state() -> dict[str, int]:
        raise OSError("database is locked")

    async def worker_beats() -> list[WorkerBeat]:
        return []

    await jetstream_bus.js.delete_stream(jetstream_bus.naming.events_stream)  # stream gone
    state = await read_shared_state(jetstream_bus, runs_by_state, worker_beats, utcnow())
    samples = _samples(exposition(state).decode())

    assert _sources_up(samples) == {"stream": 0, "runs": 0, "workers": 1}
    shown = {name for name, _ in samples}
    unknown = {  # left out, not shown as zero: "no lag" and "lag unknown" differ
        "proctor_stream_messages",
        "proctor_events_published_total",
        "proctor_consumer_pending_messages",
        "proctor_flow_runs",
    }
    assert shown.isdisjoint(unknown), shown & unknown
