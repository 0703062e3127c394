"""The runtime benchmark's Prefect side, run in Prefect's own virtualenv:
``python runtime_prefect.py PARAMS_JSON``.

Prefect's ``Runner`` (what ``flow.serve()`` runs) executes each flow run in a subprocess,
like a process worker. Its poll interval is set to 1 s (the default is 10 s), generous to
Prefect. A request is ``arun_deployment(..., timeout=0)`` against Prefect's API server;
latency is from just before it to the flow's first line (wall clock).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow  # type: ignore[import-not-found, unused-ignore]

PREFIX = "BENCH-RESULT "


@flow  # type: ignore[untyped-decorator, unused-ignore]
def first_line(path: str, label: str) -> None:
    started = time.time()  # the flow's first line
    with open(path, "a") as ledger:
        ledger.write(f"{label} {started}\n")


def _lines(ledger: Path) -> dict[str, float]:
    if not ledger.exists():
        return {}
    pairs = [line.split() for line in ledger.read_text().splitlines() if line.strip()]
    return {label: float(at) for label, at in pairs}


async def _until(ledger: Path, labels: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not labels <= set(_lines(ledger)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(labels - set(_lines(ledger)))} runs never started")
        await asyncio.sleep(0.01)  # polling a file: Prefect offers nothing to wait on here


async def main(params: dict[str, Any]) -> dict[str, Any]:
    import prefect  # type: ignore[import-not-found, unused-ignore]
    from prefect.deployments import arun_deployment  # type: ignore[import-not-found, unused-ignore]
    from prefect.runner import Runner  # type: ignore[import-not-found, unused-ignore]

    ledger = Path(params["ledger"])
    runner = Runner(query_seconds=1, limit=8, pause_on_shutdown=False)
    await runner.aadd_flow(first_line, name="bench")
    serving = asyncio.create_task(runner.start())
    name = "first-line/bench"

    async def request(label: str) -> None:
        await arun_deployment(
            name, parameters={"path": str(ledger), "label": label}, timeout=0, as_subflow=False
        )

    latencies: list[float] = []
    for index in range(params["latency_runs"] + 1):
        label = f"lat-{index}"
        at = time.time()
        await request(label)
        await _until(ledger, {label}, 120)
        if index:  # the first run warms Prefect up
            latencies.append((_lines(ledger)[label] - at) * 1000)
    began = time.perf_counter()
    labels = {f"tp-{index}" for index in range(params["throughput_runs"])}
    for label in sorted(labels):
        await request(label)
    await _until(ledger, labels, 600)
    runs_per_s = len(labels) / (time.perf_counter() - began)
    serving.cancel()
    return {
        "available": True,
        "version": str(prefect.__version__),
        "latency_ms": latencies,
        "runs_per_s": runs_per_s,
    }


if __name__ == "__main__":
    figures = asyncio.run(main(json.loads(sys.argv[1])))
    print(PREFIX + json.dumps(figures), flush=True)
    sys.stdout.flush()
