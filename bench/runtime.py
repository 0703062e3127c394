"""Run requests to executing flows: latency (request → the flow's first line) and runs/s.

Two launchers, one worker each, on an embedded nats-server:

- **subprocess**: ``Worker`` + ``ProcessLauncher``, what ``proctor worker start`` runs: each run
  is forked from a warm fork server, connects to NATS itself and publishes its own events;
- **serve**: ``Worker`` + ``InProcessLauncher``, what ``flow.serve()`` runs: each run in a thread
  of the serving process.

A request is ``submit_run`` (what the API, ``run_deployment()`` and automations call): the run
is created Scheduled (its KV entry and its event stored) and queued. Latency is from just
before the request to the first line of the flow body (wall clock, same machine), one run at
a time; throughput is N runs requested at once, until the last is Completed.

Prefect's side (``bench/workloads/runtime_prefect.py`` in its own virtualenv): its ``Runner``
(``flow.serve``), which starts each run in a subprocess, against ``prefect server start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

from bench.harness import (
    Cell,
    Options,
    Result,
    Row,
    at_most,
    embedded_nats,
    median,
    percentile,
)
from bench.prefect_env import prefect_environ, prefect_python
from proctor.events.bus import EventBus, EventStreamConfig, JetStreamEventBus
from proctor.events.bus.consumer import DurableConsumer
from proctor.events.bus.jetstream import ensure_logs_stream
from proctor.events.emit import BusThread
from proctor.events.ids import uuid7
from proctor.events.naming import Naming
from proctor.runtime.api.serve import free_port
from proctor.runtime.orchestration import RunJob, RunPlane, RuntimeOptions, submit_run
from proctor.runtime.run_events import FlowRunSnapshot, parse_state_change
from proctor.runtime.worker import InProcessLauncher, Launcher, ProcessLauncher, Worker

__all__ = ("TITLE", "run")

TITLE = "run request -> flow's first line, and runs/s through one worker (subprocess, serve)"
WORKLOADS = Path(__file__).resolve().parent / "workloads"
PREFECT_WORKLOAD = WORKLOADS / "runtime_prefect.py"
PREFIX = "BENCH-RESULT "
STREAM = EventStreamConfig(max_age=timedelta(hours=1))
DEPLOYMENT = uuid.UUID("6a0d1c2e-0000-4000-8000-000000000001")


class _Bench:
    """One launcher's measurements on one namespace."""

    def __init__(self, plane: RunPlane, ledger: Path, finals: DurableConsumer) -> None:
        self.plane = plane
        self.ledger = ledger
        self.finals = finals
        self.done: set[uuid.UUID] = set()

    async def _request(self, label: str) -> uuid.UUID:
        parameters = {"path": str(self.ledger), "label": label}
        run = FlowRunSnapshot(
            id=uuid7(),
            name=label,
            flow_name="first-line",
            deployment_id=DEPLOYMENT,
            deployment_name="bench",
            work_pool="bench",
            work_queue="default",
            parameters=parameters,
        )
        job = RunJob(
            entrypoint="runtime_flows.py:first_line",
            working_dir=str(WORKLOADS),
            work_pool="bench",
            parameters=parameters,
        )
        await submit_run(self.plane, run, job)
        return run.id

    async def _until_done(self, ids: set[uuid.UUID], timeout_s: float = 300) -> None:
        async with asyncio.timeout(timeout_s):
            while not ids <= self.done:
                deliveries = await self.finals.fetch(1000, timeout_s=1.0)
                for delivery in deliveries:
                    change = parse_state_change(delivery.decode())
                    if change is not None and change.state.type.is_terminal:
                        self.done.add(change.run.id)
                await self.finals.ack(deliveries)

    def _first_lines(self) -> dict[str, float]:
        lines = [line.split() for line in self.ledger.read_text().splitlines()]
        return {label: float(at) for label, at in lines}

    async def latencies(self, count: int, prefix: str) -> list[float]:
        """Request one run at a time; milliseconds from request to its first line."""
        requested: dict[str, float] = {}
        for index in range(count):
            label = f"{prefix}-{index}"
            requested[label] = time.time()
            await self._until_done({await self._request(label)})
        started = self._first_lines()
        return [(started[label] - at) * 1000 for label, at in requested.items()]

    async def throughput(self, count: int, prefix: str) -> float:
        """Runs/s: ``count`` runs requested at once, until the last has ended."""
        began = time.perf_counter()
        ids = {await self._request(f"{prefix}-{index}") for index in range(count)}
        await self._until_done(ids)
        return count / (time.perf_counter() - began)


async def _measure(
    url: str, launcher: Callable[[BusThread], Launcher], options: Options, limit: int
) -> dict[str, Any]:
    naming = Naming(f"bench{uuid.uuid4().hex[:8]}")
    bus = await JetStreamEventBus.connect(url, naming=naming, stream=STREAM)
    await ensure_logs_stream(bus.js, naming, STREAM)

    async def connect() -> EventBus:
        return await JetStreamEventBus.connect(url, naming=naming, declare=False)

    publisher = BusThread(connect)
    plane = await RunPlane.open(bus, RuntimeOptions(poll_s=1.0))
    chosen = launcher(publisher)
    if isinstance(chosen, ProcessLauncher):
        await chosen.warm_up()
    worker = Worker(plane, "bench", launcher=chosen, nats_url=url, limit=limit)
    finals = await bus.durable_consumer("bench-finals", "proctor.flow-run.*")
    with TemporaryDirectory(prefix="proctor-bench-runtime-") as folder:
        bench = _Bench(plane, Path(folder) / "ledger", finals)
        await worker.start()
        try:
            await bench.latencies(3, "warm")  # first forks, first connections
            samples: list[float] = []
            runs_s: list[float] = []
            for repeat in range(options.runs):
                samples += await bench.latencies(options.size(50, 10), f"lat{repeat}")
                runs_s.append(await bench.throughput(options.size(200, 30), f"tp{repeat}"))
        finally:
            await worker.stop(cancel_after_s=10)
            await finals.close()
            publisher.close()
            await bus.close()
    return {"latency_ms": samples, "runs_per_s": runs_s}


def _launchers() -> dict[str, tuple[Callable[[BusThread], Launcher], int]]:
    import sys

    if str(WORKLOADS) not in sys.path:
        sys.path.insert(0, str(WORKLOADS))
    from runtime_flows import first_line  # type: ignore[import-not-found]

    return {
        "subprocess": (lambda _: ProcessLauncher(), 8),
        "serve": (lambda bus: InProcessLauncher({DEPLOYMENT: first_line}, bus), 8),
    }


def _prefect_server(
    python: str, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``prefect server start`` on a free loopback port, once it answers /api/health."""
    port = free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                python,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited ({server.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        time.sleep(0.5)  # waiting for another program to come up: nothing to wait on
    server.kill()
    raise RuntimeError(f"prefect server did not answer within 120 s; see {log}")


def _prefect(options: Options, folder: Path) -> tuple[dict[str, Any] | None, str]:
    """Prefect's Runner (``flow.serve``: a subprocess per run) against its own API server."""
    found = prefect_python(install=options.install_prefect)
    if found.python is None:
        return None, found.reason
    python = str(found.python)
    env = prefect_environ(folder / "prefect-home")
    params = {
        "ledger": str(folder / "prefect-ledger"),
        "latency_runs": options.size(20, 3),
        "throughput_runs": options.size(40, 5),
    }
    try:
        server, url = _prefect_server(python, env, folder / "prefect-server.log")
    except RuntimeError as error:
        return None, str(error)
    log = folder / "prefect-workload.log"
    try:
        with log.open("w") as stderr:
            done = subprocess.run(
                [python, str(PREFECT_WORKLOAD), json.dumps(params)],
                env={**env, "PREFECT_API_URL": url},
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=1800,
            )
    except subprocess.TimeoutExpired:
        return None, "timed out"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
    if done.returncode != 0 or not lines:
        return None, f"the Prefect workload failed (exit {done.returncode}); see {log}"
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix(PREFIX))
    return figures, ""


def run(options: Options) -> Result:
    raw: dict[str, Any] = {}
    with embedded_nats() as server:
        for name, (launcher, limit) in _launchers().items():
            raw[name] = asyncio.run(_measure(server.url, launcher, options, limit))
    with TemporaryDirectory(prefix="proctor-bench-prefect-") as folder:
        prefect, reason = _prefect(options, Path(folder))
    label = f"Prefect {prefect['version']}" if prefect else "Prefect 3"
    result = Result("runtime", TITLE, label)
    targets = {"subprocess": 100.0, "serve": 10.0}
    missing: Cell = "skipped"
    for name, figures in raw.items():
        latency = figures["latency_ms"]
        p50 = median(latency)
        theirs = prefect["latency_ms"] if prefect else None
        result.rows += [
            Row(
                f"{name}: request -> first line p50",
                "ms",
                p50,
                median(theirs) if theirs else missing,
                at_most(p50, targets[name], " ms"),
            ),
            Row(
                f"{name}: request -> first line p99",
                "ms",
                percentile(latency, 99),
                percentile(theirs, 99) if theirs else missing,
            ),
            Row(
                f"{name}: runs/s, one worker",
                "runs/s",
                median(figures["runs_per_s"]),
                prefect["runs_per_s"] if prefect else missing,
            ),
        ]
    samples = len(raw["subprocess"]["latency_ms"])
    result.notes = [
        f"Proctor: {samples} runs requested one at a time per launcher; throughput: "
        f"{options.size(200, 30)} runs requested at once, worker limit 8; medians of "
        f"{options.runs} runs",
        "a request is submit_run on the run plane (what the API, run_deployment() and "
        "automations call); each run publishes Scheduled, Pending, Running, Completed",
        "Prefect: its Runner (flow.serve) against `prefect server start`, poll interval 1 s "
        "(default 10 s), limit 8; it starts every run in a fresh interpreter, so its column "
        "is the same in the subprocess and serve rows"
        if prefect
        else f"Prefect: skipped ({reason})",
    ]
    result.raw = {**raw, "prefect": prefect or {"skipped": reason}}
    return result
