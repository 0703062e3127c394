"""Signed webhooks: requests/s accepted and latency, one server process, load from another.

Each run starts ``proctor server start`` (embedded NATS, SQLite, recorders, API) in a fresh
home, creates a GitHub-preset webhook, then runs ``bench/workloads/webhook_load.py`` in a
second process: keep-alive connections on loopback, each sending real GitHub push deliveries
(the 7.3 KB sample, HMAC-signed, a distinct ``X-GitHub-Delivery`` each) one at a time. A 202
means the delivery's id was claimed in the replay guard (NATS KV) and its event acknowledged
by JetStream; the notes check that the stream holds exactly one event per 202. The server's
and the generator's CPU time per request show where the time goes (two cores in all).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    Options,
    Result,
    Row,
    at_least,
    at_most,
    median,
    percentile,
    stop_process,
)
from proctor.core.discovery import ServerInfo, read_discovery
from proctor.events.bus.jetstream import connect_nats
from proctor.events.naming import Naming

__all__ = ("TITLE", "run")

TITLE = "signed webhooks accepted per second (each acknowledged by JetStream), p50/p99 latency"
WORKLOAD = Path(__file__).resolve().parent / "workloads" / "webhook_load.py"
SAMPLE = Path(__file__).resolve().parents[1] / "tests/webhooks/data/github/push-payload.json"
PREFIX = "BENCH-RESULT "
SLUG = "bench-push"
SECRET = "bench-webhook-secret"
_START_TIMEOUT_S = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    stored: int
    sent_total: int
    accepted_total: int
    server_cpu_ms: float
    nats_cpu_ms: float
    load_cpu_ms: float
    load_average: tuple[float, float]
    """The machine's 1-minute load average when the load started and when it ended."""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _nats_pid(server_pid: int) -> int:
    """The embedded nats-server: the server process's child (started from a worker thread)."""
    tasks = Path(f"/proc/{server_pid}/task").iterdir()
    for child in [c for task in tasks for c in (task / "children").read_text().split()]:
        if "nats-server" in Path(f"/proc/{child}/cmdline").read_text():
            return int(child)
    raise RuntimeError("the server has no nats-server child")


def _start_server(home: Path) -> tuple[subprocess.Popen[bytes], ServerInfo, str]:
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env["PROCTOR_HOME"] = str(home)
    process = subprocess.Popen(
        [proctor, "server", "start", "--port", "0"],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = read_discovery(home)
        if info is not None and info.api_url:
            return process, info, info.api_url
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"proctor server start exited: {stderr.strip()[-500:]}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("proctor server start did not write its discovery file in time")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    stop_process(process)
    if process.stderr is not None:
        process.stderr.close()


async def _stored(info: ServerInfo) -> int:
    """How many events of the benchmark's webhook the event stream holds."""
    naming = Naming(info.namespace)
    nc = await connect_nats(info.nats_url)
    try:
        subject = naming.event_subject(f"webhook.{SLUG}")
        stream = await nc.jetstream().stream_info(naming.events_stream, subjects_filter=subject)
        subjects = stream.state.subjects or {}
        return int(subjects.get(subject, 0))
    finally:
        await nc.close()


def _one_run(options: Options, connections: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="proctor-bench-webhooks-") as folder:
        home = Path(folder)
        process, info, api_url = _start_server(home)
        try:
            created = httpx.post(
                f"{api_url}/api/webhooks",
                json={"slug": SLUG, "preset": "github", "secret": SECRET},
                timeout=30,
            )
            created.raise_for_status()
            count = options.size(20_000, 2_000)
            warmup = options.size(1_000, 200)
            nats_pid = _nats_pid(process.pid)
            server_cpu, nats_cpu = _cpu_s(process.pid), _cpu_s(nats_pid)
            load_before = os.getloadavg()[0]
            load = subprocess.run(
                [
                    sys.executable, str(WORKLOAD), api_url, SLUG, SECRET, str(SAMPLE),
                    "--connections", str(connections), "--count", str(count),
                    "--warmup", str(warmup), "--duration-s", str(options.size(30, 10)),
                ],
                capture_output=True, text=True, check=True, timeout=300, cwd=home,
            )  # fmt: skip
            load_after = os.getloadavg()[0]
            server_cpu = _cpu_s(process.pid) - server_cpu
            nats_cpu = _cpu_s(nats_pid) - nats_cpu
            stored = asyncio.run(_stored(info))
        finally:
            _stop_server(process)
    line = next(x for x in load.stdout.splitlines() if x.startswith(PREFIX))
    figures: dict[str, Any] = json.loads(line[len(PREFIX) :])
    latencies = figures["latencies_ms"]
    statuses: dict[str, int] = figures["statuses"]
    accepted = statuses.get("202", 0)
    sent_total = warmup + len(latencies)
    return Measured(
        accepted_per_s=accepted / figures["elapsed_s"],
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        statuses=statuses,
        stored=stored,
        sent_total=sent_total,
        accepted_total=warmup + accepted,
        server_cpu_ms=server_cpu * 1000 / sent_total,
        nats_cpu_ms=nats_cpu * 1000 / sent_total,
        load_cpu_ms=figures["cpu_s"] * 1000 / max(1, len(latencies)),
        load_average=(load_before, load_after),
    )


def run(options: Options) -> Result:
    connections = 16
    runs = [_one_run(options, connections) for _ in range(options.runs)]
    result = Result(
        name="webhooks",
        title=TITLE,
        baseline="",
        raw={"runs": [vars(r) for r in runs], "connections": connections},
    )
    rate = median([r.accepted_per_s for r in runs])
    p50 = median([r.p50_ms for r in runs])
    p99 = median([r.p99_ms for r in runs])
    server_cpu = median([r.server_cpu_ms for r in runs])
    result.rows = [
        Row("accepted", "requests/s", rate, verdict=at_least(rate, 2000)),
        Row("latency p50", "ms", p50),
        Row("latency p99", "ms", p99, verdict=at_most(p99, 25)),
        Row("CPU per request: server process", "ms", server_cpu),
        Row("CPU per request: nats-server", "ms", median([r.nats_cpu_ms for r in runs])),
        Row("CPU per request: load generator", "ms", median([r.load_cpu_ms for r in runs])),
        Row("server-process ceiling (1 core / its CPU)", "requests/s", 1000 / server_cpu),
    ]
    exact = all(r.stored == r.accepted_total for r in runs)
    result.notes = [
        f"{connections} keep-alive connections, one request at a time each; GitHub push "
        f"sample ({SAMPLE.stat().st_size:,} bytes), a distinct delivery id per request",
        "statuses per run: " + "; ".join(json.dumps(r.statuses) for r in runs),
        "load average (1 min) at each run's start -> end: "
        + ", ".join(f"{r.load_average[0]:.1f} -> {r.load_average[1]:.1f}" for r in runs),
        f"stream holds exactly one event per 202 (warm-up included): {'yes' if exact else 'NO'} "
        f"({', '.join(f'{r.stored}/{r.accepted_total}' for r in runs)})",
        "the server runs its recorders (events into SQLite) at the same time, on the same cores",
    ]
    return result
