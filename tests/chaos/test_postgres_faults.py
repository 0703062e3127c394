"""PostgreSQL faults under load: the server's database connections killed again and again,
and the database unreachable (a blackhole between the server and PostgreSQL), then healed.

``proctor server start`` (API, recorder, engine) stores into a database of the test's own
(``postgres.py``), reached through a ``FaultProxy``. Load: events posted to
``POST /api/events`` by three clients and flow runs (a flow whose task emits an event) run in
the test process on the same NATS, while a reader asks ``GET /api/events``. Checked with
the checker: every acknowledged event (answered 201, or emitted by a flow run that returned)
is stored exactly once and nothing is dead-lettered; each flow run's states are stored in
order; the intake never fails for want of the database; the API answers 200 or 503, never a
500 and never a hang; after the fault the store catches up and the API answers 200 again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from proctor import emit_event, flow, get_run_context, task
from proctor.events.emit import reset_default_publisher
from proctor.events.model import Event
from proctor.runtime.api.serve import free_port
from tests.chaos.checker import DeliveryReport, classify, dead_letters, indexed_event_ids
from tests.chaos.postgres import ChaosDatabase, chaos_database, needs_postgres
from tests.chaos.processes import ProctorProcess, own_nats
from tests.chaos.proxy import FaultProxy
from tests.chaos.results import SCALE, FaultResult, record_result

pytestmark = [
    pytest.mark.nats,
    pytest.mark.slow,
    needs_postgres,
    pytest.mark.timeout(180 * SCALE),
]

POSTED = "chaos.pg.posted"
EMITTED = "chaos.pg.emitted"
API_TIMEOUT_S = 30.0
"""An API answer slower than this counts as a hang."""
STORED_WAIT_S = 90.0
RUN_STATES = ["Pending", "Running", "Completed"]


@task
def emit_one(n: int) -> str:
    event = emit_event(EMITTED, {"proctor.resource.id": f"pg-{n}"}, payload={"n": n})
    assert event is not None, "emit_event found no server"
    return str(event.id)


@flow
def chaos_pg_flow(n: int) -> tuple[str, str]:
    """Its run id, and the id of the event its task emitted."""
    return str(get_run_context().run.id), emit_one(n)


@dataclass
class Server:
    db: ChaosDatabase
    proxy: FaultProxy
    nats_url: str
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def pg_server(tmp_path: Path) -> AsyncIterator[Server]:
    """``proctor server start`` on a NATS and a PostgreSQL database of its own, the latter
    through a fault proxy."""
    async with (
        chaos_database() as db,
        FaultProxy(db.port) as proxy,
        own_nats(tmp_path / "nats") as nats,
    ):
        port = free_port()
        env = {
            "PROCTOR_HOME": str(tmp_path / "home"),
            "PROCTOR_NATS_URL": nats.url,
            "PROCTOR_DATABASE_URL": db.url(port=proxy.port),
        }
        process = ProctorProcess(
            "server", "start", "--port", str(port), env=env, log=tmp_path / "server.log"
        )
        base = f"http://127.0.0.1:{port}"
        async with process, httpx.AsyncClient(base_url=base, timeout=API_TIMEOUT_S) as http:
            yield Server(db, proxy, nats.url, http)


@dataclass
class Poster:
    """Posts uniquely identified events; those answered 201 are acknowledged."""

    http: httpx.AsyncClient
    sent: set[UUID] = field(default_factory=set)
    acknowledged: set[UUID] = field(default_factory=set)
    refused: Counter[int] = field(default_factory=Counter)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def acks(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` events in all are acknowledged."""
        async with self.progress:
            await asyncio.wait_for(
                self.progress.wait_for(lambda: len(self.acknowledged) >= count), timeout_s
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event = Event.build(POSTED, {"proctor.resource.id": "pg-poster"}, payload={})
            self.sent.add(event.id)
            answer = await self.http.post("/api/events", json=event.model_dump(mode="json"))
            if answer.status_code != 201:
                self.refused[answer.status_code] += 1
                continue
            async with self.progress:
                self.acknowledged.add(event.id)
                self.progress.notify_all()


@dataclass
class Reader:
    """Reads ``GET /api/events`` in a loop: each answer's status and how long it took."""

    http: httpx.AsyncClient
    answers: list[tuple[float, int | str, float]] = field(default_factory=list)
    """(when it came, status or "timeout" or the transport error, seconds it took)."""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            asked = time.monotonic()
            status: int | str
            try:
                status = (await self.http.get("/api/events", params={"limit": 1})).status_code
            except httpx.TimeoutException:
                status = "timeout"
            except httpx.TransportError as error:  # the server cut the connection
                status = type(error).__name__
            answered = time.monotonic()
            async with self.changed:
                self.answers.append((answered, status, answered - asked))
                self.changed.notify_all()

    async def answer(self, status: int, after: float, timeout_s: float = 90.0) -> float:
        """Wait for an answer ``status`` that came after ``after``; when it came."""

        def found() -> float | None:
            return next((at for at, s, _ in self.answers if s == status and at > after), None)

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: found() is not None), timeout_s)
        at = found()
        assert at is not None
        return at

    @property
    def statuses(self) -> dict[str, int]:
        return dict(Counter(str(status) for _, status, _ in self.answers))

    @property
    def longest_s(self) -> float:
        return max((took for _, _, took in self.answers), default=0.0)


@dataclass
class FlowRuns:
    """Runs ``chaos_pg_flow`` one after another (in a thread): (run id, emitted event id)."""

    done: list[tuple[UUID, UUID]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            run_id, emitted = await asyncio.to_thread(chaos_pg_flow, n)
            self.done.append((UUID(run_id), UUID(emitted)))


@dataclass
class Load:
    poster: Poster
    reader: Reader
    flows: FlowRuns
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, server: Server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Load]:
        """Load on ``server`` until the block ends (the flows publish to its NATS)."""
        monkeypatch.setenv("PROCTOR_NATS_URL", server.nats_url)
        reset_default_publisher()
        async with httpx.AsyncClient(base_url=server.http.base_url, timeout=API_TIMEOUT_S) as read:
            load = cls(Poster(server.http), Reader(read), FlowRuns())
            load.started = time.monotonic()
            load.tasks = [
                *(asyncio.create_task(load.poster.run(load.stop)) for _ in range(3)),
                asyncio.create_task(load.reader.run(load.stop)),
                asyncio.create_task(load.flows.run(load.stop)),
            ]
            try:
                yield load
            finally:
                load.stop.set()
                load.seconds = time.monotonic() - load.started
                await asyncio.gather(*load.tasks)

    @property
    def acknowledged(self) -> set[UUID]:
        return self.poster.acknowledged | {emitted for _, emitted in self.flows.done}

    @property
    def sent(self) -> set[UUID]:
        return self.poster.sent | {emitted for _, emitted in self.flows.done}


@dataclass(frozen=True)
class Stored:
    report: DeliveryReport
    caught_up_s: float
    """From the end of the load until every acknowledged event was stored."""
    flow_runs: int


async def check_store(db: ChaosDatabase, load: Load) -> Stored:
    """Every acknowledged event stored once, no dead letter, every flow run's states stored
    once and in order, its current state Completed."""
    waited = time.monotonic()
    stored = await indexed_event_ids(
        db.url(), (POSTED, EMITTED), expected=load.acknowledged, timeout_s=STORED_WAIT_S
    )
    caught_up_s = time.monotonic() - waited
    report = classify(load.sent, load.acknowledged, stored)
    assert report.ok, report.summary()
    dead = await dead_letters(db.url())
    assert not dead, f"dead-lettered: {dead[:5]}"
    runs = {run_id for run_id, _ in load.flows.done}
    states = await db.rows(
        "SELECT run_id, name FROM run_state WHERE run_kind = 'flow-run' "
        "ORDER BY run_id, timestamp, id"
    )
    by_run: dict[UUID, list[str]] = {}
    for row in states:
        by_run.setdefault(UUID(str(row.run_id)), []).append(row.name)
    runs_report = classify(runs, runs, [r for r in by_run if r in runs])
    assert runs_report.ok, f"flow runs: {runs_report.summary()}"
    out_of_order = {r: by_run[r] for r in runs if by_run[r] != RUN_STATES}
    assert not out_of_order, f"states not stored once in order: {list(out_of_order.items())[:3]}"
    current = await db.rows("SELECT id, state_name FROM flow_run")
    assert {UUID(str(row.id)) for row in current if row.state_name == "Completed"} >= runs
    return Stored(report, caught_up_s, len(runs))


def api_answers_are_200_or_503(reader: Reader) -> None:
    bad = {status for status in reader.statuses if status not in ("200", "503")}
    assert not bad, f"the API answered {reader.statuses} (longest {reader.longest_s:.1f} s)"


async def test_postgres_connections_killed_again_and_again_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kills, every = 8 * SCALE, 40
    terminated = 0
    async with pg_server(tmp_path) as server:
        async with Load.running(server, monkeypatch) as load:
            for kill in range(1, kills + 1):
                await load.poster.acks(kill * every)
                terminated += await server.db.terminate()
            last_kill = time.monotonic()
            await load.poster.acks((kills + 1) * every)  # and the load goes on a while
        stored = await check_store(server.db, load)
        assert not load.poster.refused, f"POST /api/events refused: {load.poster.refused}"
        api_answers_are_200_or_503(load.reader)

    record_result(
        FaultResult(
            fault="PostgreSQL: every connection to the server's database killed "
            "(pg_terminate_backend) mid-load, again and again",
            load_per_s=len(load.acknowledged) / load.seconds,
            faults=kills,
            report=stored.report,
            recovery_s={
                "last_kill_to_everything_stored": stored.caught_up_s
                + time_between(last_kill, load),
                "longest_api_answer": load.reader.longest_s,
            },
            details={
                "connections_killed": terminated,
                "flow_runs": stored.flow_runs,
                "api_answers": load.reader.statuses,
            },
        )
    )


def time_between(moment: float, load: Load) -> float:
    """From ``moment`` to the end of the load."""
    return load.started + load.seconds - moment


async def test_postgres_unreachable_then_healed_answers_503_and_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outages, every = SCALE, 100
    to_503: list[float] = []
    to_200: list[float] = []
    ready_during: list[int] = []
    outage_s: list[float] = []
    async with pg_server(tmp_path) as server:
        async with Load.running(server, monkeypatch) as load:
            for outage in range(outages):
                await load.poster.acks((2 * outage + 1) * every)
                server.proxy.pause()
                paused = time.monotonic()
                to_503.append(await load.reader.answer(503, after=paused) - paused)
                ready_during.append((await server.http.get("/ready")).status_code)
                # The intake does not need the database: events are still acknowledged.
                await load.poster.acks((2 * outage + 2) * every)
                server.proxy.resume()
                healed = time.monotonic()
                outage_s.append(healed - paused)
                to_200.append(await load.reader.answer(200, after=healed) - healed)
            last_heal = healed
            await load.poster.acks((2 * outages + 1) * every)
        stored = await check_store(server.db, load)
        assert not load.poster.refused, f"POST /api/events refused: {load.poster.refused}"
        api_answers_are_200_or_503(load.reader)
        assert set(ready_during) == {503}, f"/ready answered {ready_during} during the outage"

    record_result(
        FaultResult(
            fault="PostgreSQL unreachable (blackhole between the server and the database), "
            "then healed, mid-load",
            load_per_s=len(load.acknowledged) / load.seconds,
            faults=outages,
            report=stored.report,
            recovery_s={
                "blackhole_to_first_503": max(to_503),
                "heal_to_first_200": max(to_200),
                "last_heal_to_everything_stored": stored.caught_up_s
                + time_between(last_heal, load),
                "longest_api_answer": load.reader.longest_s,
            },
            details={
                "outage_s": round(max(outage_s), 1),
                "flow_runs": stored.flow_runs,
                "api_answers": load.reader.statuses,
            },
        )
    )
