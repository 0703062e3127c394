"""Automations: latency from an event being emitted to its action starting, and events/s
evaluated with 1,000 automations loaded; Prefect 3's automations side by side.

Proctor runs its engine as the server does (JetStream bus, trigger state and the engine's own
state in KV buckets, checkpoints, the SSRF-guarded HTTP client) against an embedded
nats-server this benchmark starts.

- Latency: an automation ``on_event("bench.latency")`` → ``RunDeployment`` (a probe run
  control that notes when the action starts) and another → ``CallWebhook`` to a listener on
  127.0.0.1. Each event is published on a second connection (what ``aemit_event`` does); the
  clock starts when the publish returns (JetStream acknowledged it) and stops when the action
  starts, and when the webhook request arrives. One event at a time, after a warm-up.
- Throughput: 1,000 automations over 100 event names; each event is a candidate for 10 of
  them (1%), all 10 count it (threshold 100 within an hour, so about one event in ten makes a
  firing, whose action runs too). The events are stored first; the clock runs from the
  engine's start (automations already loaded) until every event is evaluated, its state saved
  and acknowledged. A second shape: 1% of the events concern one automation each.

Prefect: ``prefect server start`` (its triggers and actions services) in a temporary home, a
``Webhook`` block pointing at a local listener, an automation ``EventTrigger(expect=
{"bench.latency"})`` → ``CallWebhook``; ``emit_event`` then wait for the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.harness import (
    Cell,
    Options,
    Result,
    Row,
    at_least,
    at_most,
    embedded_nats,
    median,
    percentile,
)
from bench.prefect_env import prefect_environ, prefect_python
from proctor.automations import Automation, CallWebhook, RunDeployment
from proctor.automations.delivery import DestinationPolicy, GuardedHttp
from proctor.automations.engine import (
    AutomationEngine,
    EngineOptions,
    InMemoryAutomations,
    JetStreamKeyValue,
)
from proctor.automations.execution import ActionServices
from proctor.automations.outgoing import OutgoingWebhookSender
from proctor.automations.ports import DeploymentInfo, FlowRunInfo, RunHandle
from proctor.automations.slack import SlackSender
from proctor.events.bus import EventStreamConfig, JetStreamEventBus
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.automation_service import SystemEngineClock
from proctor.triggers import EventTrigger, on_event
from proctor.triggers.state import JetStreamTriggerStateStore

__all__ = ("TITLE", "run")

TITLE = "emit -> action p50/p99, events/s evaluated with 1,000 automations, vs Prefect 3"
STREAM = EventStreamConfig(max_age=timedelta(hours=1), duplicate_window=timedelta(minutes=2))
PREFIX = "BENCH-RESULT "
_PREFECT_TIMEOUT_S = 1800


class ProbeRuns:
    """A ``RunControl`` whose runs start nowhere: it notes when each was requested."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.arrived: asyncio.Queue[int] = asyncio.Queue()
        self.count = 0

    async def run_deployment(
        self,
        deployment: str,
        *,
        parameters: Mapping[str, Any],
        idempotency_key: str,
        scheduled_time: datetime | None = None,
        retry_of: uuid.UUID | None = None,
        tags: Sequence[str] = (),
        caused_by: uuid.UUID | None = None,
    ) -> RunHandle:
        now = time.perf_counter()
        self.count += 1
        n = parameters.get("n")
        if isinstance(n, int):
            self.started[n] = now
            self.arrived.put_nowait(n)
        return RunHandle(flow_run_id=uuid.uuid5(uuid.NAMESPACE_OID, idempotency_key))

    async def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunInfo | None:
        return None

    async def read_deployment(self, deployment: str) -> DeploymentInfo | None:
        return None

    async def flow_run_logs(self, flow_run_id: uuid.UUID, *, limit: int) -> list[str]:
        return []

    def flow_run_url(self, flow_run_id: uuid.UUID) -> str | None:
        return None

    async def cancel_flow_run(self, flow_run_id: uuid.UUID, *, idempotency_key: str) -> None:
        return None

    async def set_flow_run_state(
        self,
        flow_run_id: uuid.UUID,
        *,
        state_type: str,
        state_name: str | None,
        message: str | None,
        idempotency_key: str,
    ) -> None:
        return None

    async def pause_deployment(self, deployment: str) -> None:
        return None

    async def resume_deployment(self, deployment: str) -> None:
        return None


@dataclass
class Listener:
    """A minimal HTTP endpoint on 127.0.0.1 that notes when each request arrives."""

    arrived: dict[int, float] = field(default_factory=dict)
    queue: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> Listener:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            now = time.perf_counter()
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length)) if length else {}
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
            n = body.get("n")
            if isinstance(n, int):
                self.arrived[n] = now
                self.queue.put_nowait(n)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _engine(
    url: str, naming: Naming, automations: InMemoryAutomations, runs: ProbeRuns, **options: Any
) -> tuple[AutomationEngine, JetStreamEventBus, GuardedHttp]:
    bus = await JetStreamEventBus.connect(url, naming=naming, stream=STREAM)
    http = GuardedHttp(policy=DestinationPolicy(allow=("127.0.0.1/32",)), timeout_s=10)
    services = ActionServices(
        runs=runs,
        automations=automations,
        publisher=bus,
        slack=SlackSender(http=http),
        webhooks=OutgoingWebhookSender(http=http),
    )
    engine = AutomationEngine(
        bus,
        source=automations,
        services=services,
        clock=SystemEngineClock(),
        trigger_state=await JetStreamTriggerStateStore.open(
            bus.js, naming.trigger_state_bucket, nc=bus.nc
        ),
        guard_state=await JetStreamKeyValue.open(bus.js, naming.automation_state_bucket, nc=bus.nc),
        options=EngineOptions(**options),
    )
    return engine, bus, http


async def _proctor_latency(url: str, count: int, warmup: int) -> dict[str, list[float]]:
    naming = Naming(f"bl{uuid.uuid4().hex[:10]}")
    listener = await Listener().start()
    runs = ProbeRuns()
    automations = InMemoryAutomations()
    automations.put(
        Automation(
            name="latency: run",
            trigger=on_event("bench.latency"),
            actions=[
                RunDeployment(deployment="bench/probe", parameters={"n": "{{ event.payload.n }}"})
            ],
        )
    )
    automations.put(
        Automation(
            name="latency: webhook",
            trigger=on_event("bench.latency"),
            actions=[
                CallWebhook(
                    url=f"http://127.0.0.1:{listener.port}/hook",
                    body={"n": "{{ event.payload.n }}"},
                )
            ],
        )
    )
    engine, bus, http = await _engine(url, naming, automations, runs, fetch_timeout_s=5.0)
    publisher = await JetStreamEventBus.connect(url, naming=naming, declare=False)
    action_ms: list[float] = []
    hook_ms: list[float] = []
    try:
        await engine.start()
        for n in range(warmup + count):
            event = Event.build("bench.latency", {ID_LABEL: "bench.1"}, payload={"n": n})
            await publisher.publish(event)
            emitted = time.perf_counter()
            async with asyncio.timeout(30):
                while n not in runs.started:
                    await runs.arrived.get()
                while n not in listener.arrived:
                    await listener.queue.get()
            if n >= warmup:
                action_ms.append((runs.started[n] - emitted) * 1000)
                hook_ms.append((listener.arrived[n] - emitted) * 1000)
    finally:
        await engine.stop()
        await publisher.close()
        await _drop(bus, naming)
        await bus.close()
        await http.aclose()
        await listener.stop()
    return {"action_ms": action_ms, "webhook_ms": hook_ms}


def _matching_shape(count: int) -> tuple[list[Automation], list[Event]]:
    """1,000 automations over 100 names: each event is counted by 10 of them (1%)."""
    automations = [
        Automation(
            name=f"threshold {i}",
            trigger=EventTrigger(
                expect=(f"shop.order.kind{i % 100}",), threshold=100, within=timedelta(hours=1)
            ),
            actions=[RunDeployment(deployment="bench/probe")],
        )
        for i in range(1000)
    ]
    rng = random.Random(1)
    events = [
        Event.build(
            f"shop.order.kind{rng.randrange(100)}",
            {ID_LABEL: f"order.{rng.randrange(10_000)}"},
            payload={"total": rng.randrange(1, 500), "currency": "EUR"},
        )
        for _ in range(count)
    ]
    return automations, events


def _sparse_shape(count: int) -> tuple[list[Automation], list[Event]]:
    """1,000 automations on 1,000 names; 1% of the events concern one of them."""
    automations = [
        Automation(
            name=f"sparse {i}",
            trigger=on_event(f"app.n{i}.happened"),
            actions=[RunDeployment(deployment="bench/probe")],
        )
        for i in range(1000)
    ]
    rng = random.Random(2)
    events = [
        Event.build(
            f"app.n{rng.randrange(1000)}.happened"
            if rng.random() < 0.01
            else f"other.n{rng.randrange(1000)}.happened",
            {ID_LABEL: "app.1"},
            payload={"n": 1},
        )
        for _ in range(count)
    ]
    return automations, events


async def _proctor_throughput(
    url: str, make: Callable[[], tuple[list[Automation], list[Event]]]
) -> dict[str, float]:
    automations_list, events = make()
    naming = Naming(f"bt{uuid.uuid4().hex[:10]}")
    automations = InMemoryAutomations()
    for automation in automations_list:
        automations.put(automation)
    runs = ProbeRuns()
    engine, bus, http = await _engine(
        url,
        naming,
        automations,
        runs,
        events=replace(EngineOptions().events, start="all", ack_wait=timedelta(seconds=60)),
    )
    try:
        for first in range(0, len(events), 5000):
            await bus.publish_many(events[first : first + 5000])
        count = len(events)
        del events  # in the stream now: an engine holds no such heap (the GC would scan it)
        last = (await bus.stats()).last_sequence
        await engine.sync()  # the automations are loaded before the clock starts
        started, cpu = time.perf_counter(), time.process_time()
        await engine.start()
        await engine.wait_evaluated(last, timeout_s=600)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        firings = engine.stats.firings
    finally:
        await engine.stop()
        await _drop(bus, naming)
        await bus.close()
        await http.aclose()
    return {"events_per_s": count / wall, "cpu_per_event_us": cpu / count * 1e6,
            "firings": firings, "events": count}  # fmt: skip


async def _drop(bus: JetStreamEventBus, naming: Naming) -> None:
    """Delete what a measurement made (as much as can be: it is a benchmark)."""
    for bucket in (naming.trigger_state_bucket, naming.automation_state_bucket):
        with contextlib.suppress(Exception):
            await bus.js.delete_key_value(bucket)
    with contextlib.suppress(Exception):
        await bus.js.delete_stream(naming.events_stream)


@dataclass
class ProctorFigures:
    action_ms: list[float] = field(default_factory=list)
    webhook_ms: list[float] = field(default_factory=list)
    matching: list[dict[str, float]] = field(default_factory=list)
    sparse: list[dict[str, float]] = field(default_factory=list)


def _proctor(options: Options) -> ProctorFigures:
    figures = ProctorFigures()
    count = options.size(250, 40)
    with embedded_nats() as server:
        for _ in range(options.runs):
            latency = asyncio.run(_proctor_latency(server.url, count, warmup=options.size(20, 5)))
            figures.action_ms += latency["action_ms"]
            figures.webhook_ms += latency["webhook_ms"]
            size = options.size(40_000, 4_000)
            figures.matching.append(
                asyncio.run(_proctor_throughput(server.url, partial(_matching_shape, size)))
            )
            figures.sparse.append(
                asyncio.run(_proctor_throughput(server.url, partial(_sparse_shape, size * 2)))
            )
    return figures


PREFECT_WORKLOAD = r"""
import json, os, socket, subprocess, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

count, warmup = int(sys.argv[1]), int(sys.argv[2])
arrived, ready = {}, threading.Condition()

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        now = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        try:
            n = int(json.loads(body)["n"])
        except Exception:
            return
        with ready:
            arrived[n] = now
            ready.notify_all()
    def log_message(self, *args):
        pass

hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]
api = f"http://127.0.0.1:{port}/api"
command = [sys.executable, "-m", "prefect", "server", "start"]
server = subprocess.Popen(command + ["--host", "127.0.0.1", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(api + "/health", timeout=2).read(); break
        except Exception:
            if time.monotonic() > deadline: raise SystemExit("prefect server did not start")
            time.sleep(0.5)
    os.environ["PREFECT_API_URL"] = api
    from prefect.automations import Automation
    from prefect.blocks.webhook import Webhook
    from prefect.events import emit_event
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import EventTrigger, Posture
    Webhook(method="POST", url=f"http://127.0.0.1:{hook.server_address[1]}/hook",
            allow_private_urls=True).save("bench-hook", overwrite=True)
    block_id = Webhook.load("bench-hook")._block_document_id
    Automation(name="bench latency", trigger=EventTrigger(expect={"bench.latency"},
               posture=Posture.Reactive, threshold=1, within=0),
               actions=[CallWebhook(block_document_id=block_id,
                                    payload='{"n": {{ event.payload.n }}}')]).create()
    time.sleep(5)  # let the triggers service load the new automation
    latencies, missed = [], 0
    for n in range(warmup + count):
        emit_event(event="bench.latency", resource={"prefect.resource.id": "bench.1"},
                   payload={"n": n})
        emitted = time.perf_counter()
        with ready:
            ready.wait_for(lambda: n in arrived, timeout=30)
        if n not in arrived:
            missed += 1
            continue
        if n >= warmup:
            latencies.append((arrived[n] - emitted) * 1000)
    print("BENCH-RESULT " + json.dumps({"webhook_ms": latencies, "missed": missed}), flush=True)
finally:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
"""


@dataclass
class PrefectFigures:
    webhook_ms: list[float] = field(default_factory=list)
    missed: int = 0
    reason: str = ""
    version: str | None = None


def _prefect(options: Options) -> PrefectFigures:
    env = prefect_python(install=options.install_prefect)
    if env.python is None:
        return PrefectFigures(reason=env.reason)
    figures = PrefectFigures(version=env.version)
    with tempfile.TemporaryDirectory(prefix="proctor-bench-prefect-") as folder:
        script = Path(folder) / "automation_workload.py"
        script.write_text(PREFECT_WORKLOAD)
        count = str(options.size(200, 10))
        warmup = str(options.size(5, 2))
        try:
            done = subprocess.run(
                [str(env.python), str(script), count, warmup],
                env=prefect_environ(Path(folder) / "home"),
                capture_output=True,
                text=True,
                timeout=_PREFECT_TIMEOUT_S,
                cwd=folder,
            )
        except subprocess.TimeoutExpired:
            figures.reason = f"Prefect's workload did not finish within {_PREFECT_TIMEOUT_S} s"
            return figures
        lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
        if done.returncode != 0 or not lines:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            figures.reason = f"Prefect's workload failed: {' | '.join(tail)[:300]}"
            return figures
        data = json.loads(lines[-1][len(PREFIX) :])
        figures.webhook_ms, figures.missed = data["webhook_ms"], data["missed"]
    return figures


def _p(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def run(options: Options) -> Result:
    result = Result("automations", TITLE, baseline="Prefect 3")
    proctor = _proctor(options)
    prefect = _prefect(options)

    def baseline(value: float | None) -> Cell:
        return value if prefect.webhook_ms else "skipped"

    action_p50, action_p99 = _p(proctor.action_ms, 50), _p(proctor.action_ms, 99)
    hook_p50, hook_p99 = _p(proctor.webhook_ms, 50), _p(proctor.webhook_ms, 99)
    matching = median([m["events_per_s"] for m in proctor.matching])
    sparse = median([m["events_per_s"] for m in proctor.sparse])
    result.rows += [
        Row("emit -> action starts, p50", "ms", action_p50, None, at_most(action_p50, 5)),
        Row("emit -> action starts, p99", "ms", action_p99, None, at_most(action_p99, 25)),
        Row("emit -> webhook received, p50", "ms", hook_p50, baseline(_p(prefect.webhook_ms, 50))),
        Row("emit -> webhook received, p99", "ms", hook_p99, baseline(_p(prefect.webhook_ms, 99))),
        Row(
            "events/s, 1,000 automations, 1% counting each event",
            "events/s",
            matching,
            "n/a",
            at_least(matching, 10_000),
        ),
        Row("events/s, 1,000 automations, 1% of events match one", "events/s", sparse, "n/a"),
    ]
    per_event = median([m["cpu_per_event_us"] for m in proctor.matching])
    firings = median([m["firings"] / m["events"] for m in proctor.matching])
    result.notes += [
        f"latency: {len(proctor.action_ms)} events, one at a time, after a warm-up; the clock "
        "starts when JetStream acknowledged the event and stops when the RunDeployment action "
        "starts (a probe run control) / when a CallWebhook request reaches a local listener",
        f"throughput, 1% counting: {per_event:.0f} us of engine CPU per event (10 counted "
        f"each); {firings:.2f} firings per event, their actions run in the same process",
        "engine configured as in the server: JetStream durable consumers, trigger and engine "
        "state in KV buckets (checkpointed), one process",
    ]
    if prefect.webhook_ms:
        result.notes.append(
            f"Prefect {prefect.version}: `prefect server start` (triggers and actions services), "
            f"EventTrigger -> CallWebhook (Webhook block), {len(prefect.webhook_ms)} events via "
            f"emit_event, {prefect.missed} never arrived within 30 s; its events/s is not "
            "measured (no comparable way to feed it 1,000 automations' worth of events)"
        )
    else:
        result.notes.append(f"Prefect: skipped ({prefect.reason})")
    result.raw = {
        "proctor": {
            "action_ms": proctor.action_ms,
            "webhook_ms": proctor.webhook_ms,
            "matching": proctor.matching,
            "sparse": proctor.sparse,
        },
        "prefect": {"webhook_ms": prefect.webhook_ms, "missed": prefect.missed,
                    "reason": prefect.reason, "version": prefect.version},
    }  # fmt: skip
    return result
