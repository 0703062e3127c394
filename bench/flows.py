"""Flow and task overhead: Proctor (every event acknowledged by JetStream) vs Prefect 3.

Each side runs ``bench/workloads/flow_workload.py`` in a fresh interpreter: Proctor's from
this virtualenv, publishing to an embedded nats-server this benchmark starts (the events and
logs streams declared, ``PROCTOR_NATS_URL`` set); Prefect's from its own virtualenv
(``bench.prefect_env``), with its ephemeral local API server, as a Prefect user's first
script would run.

Per-task overhead, conservative against Proctor: Proctor's is the whole flow call (ending
once JetStream has acknowledged every event) minus an empty flow's, divided by the tasks;
Prefect's is the flow *body* alone divided by the tasks. Prefect's whole call can't be used:
its flow end joins a heartbeat thread that sleeps in 1 s steps (3.9 default), which rounds
every flow call up to about the next whole second.

Import time is ``import proctor`` in a fresh interpreter with Proctor's bytecode cached, as an
installed package's is (``bench.harness.proctor_environ``); Prefect's is compiled when its
virtualenv is installed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.harness import (
    Cell,
    Options,
    Result,
    Row,
    at_least,
    at_most,
    cache_bytecode,
    embedded_nats,
    median,
    proctor_environ,
    ratio_at_least,
    ratio_info,
)
from bench.prefect_env import prefect_environ, prefect_python
from proctor.events.bus import EventStreamConfig, JetStreamEventBus
from proctor.events.bus.jetstream import ensure_logs_stream
from proctor.events.naming import Naming

__all__ = ("TITLE", "run")

TITLE = "flow/task overhead, tasks/s, memory and import time, Proctor vs Prefect 3"
WORKLOAD = Path(__file__).resolve().parent / "workloads" / "flow_workload.py"
PREFIX = "BENCH-RESULT "
_TIMEOUT_S = 1800
STREAM = EventStreamConfig(max_age=timedelta(hours=1))


@dataclass
class Side:
    """One library's figures, or why there are none (shown in its column)."""

    label: str
    figures: dict[str, Any] | None = None
    missing: str = ""  # shown in the column when there are no figures
    reason: str = ""
    from_body: bool = False  # per-task overhead from the flow body, not the whole call

    def median_of(self, key: str) -> float | None:
        return median(self.figures[key]) if self.figures else None

    def per_task_ms(self, mode: str) -> float | None:
        """Milliseconds per task in ``mode`` (``sequential`` or ``submitted``)."""
        if self.figures is None:
            return None
        tasks = int(self.figures["tasks"])
        if self.from_body:
            return median(self.figures[f"{mode}_body_s"]) / tasks * 1000
        flow_s, empty_s = median(self.figures[f"{mode}_s"]), median(self.figures["empty_s"])
        return (flow_s - empty_s) / tasks * 1000


def _import_time_s(
    python: str, module: str, env: dict[str, str], times: int, cwd: Path
) -> float | None:
    """Median seconds ``import module`` takes in a fresh interpreter (startup excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(times):
        done = subprocess.run(
            [python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            return None
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return median(samples)


def _workload(
    python: str, library: str, params: dict[str, Any], env: dict[str, str], log: Path
) -> Side:
    side = Side(library)
    with log.open("w") as stderr:
        try:
            done = subprocess.run(
                [python, str(WORKLOAD), library, json.dumps(params)],
                env=env,
                cwd=log.parent,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            side.missing, side.reason = "timed out", f"after {_TIMEOUT_S} s; see {log}"
            return side
    lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
    if done.returncode != 0 or not lines:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        side.missing = "failed"
        side.reason = tail[-1] if tail else f"exit status {done.returncode}"
        return side
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix(PREFIX))
    if not figures.get("available"):
        side.missing, side.reason = "not available yet", str(figures.get("reason", ""))
        return side
    side.figures = figures
    return side


async def _stored(url: str, naming: Naming) -> int:
    async with await JetStreamEventBus.connect(url, naming=naming, declare=False) as bus:
        return (await bus.stats()).messages


async def _declare(url: str, naming: Naming) -> None:
    """Declare the streams a local server declares: events, and run logs."""
    async with await JetStreamEventBus.connect(url, naming=naming, stream=STREAM) as bus:
        await ensure_logs_stream(bus.js, naming, STREAM)


def _proctor(options: Options, folder: Path, params: dict[str, Any]) -> tuple[Side, dict[str, Any]]:
    env = proctor_environ(folder / "proctor-home")
    cache_bytecode("proctor")
    info: dict[str, Any] = {"import_s": _import_time_s(sys.executable, "proctor", env, 5, folder)}
    with embedded_nats() as server:
        naming = Naming(f"bench{uuid.uuid4().hex[:8]}")
        asyncio.run(_declare(server.url, naming))
        env.update(PROCTOR_NATS_URL=server.url, PROCTOR_NAMESPACE=naming.namespace)
        side = _workload(sys.executable, "proctor", params, env, folder / "proctor.log")
        info["stored_after_exit"] = asyncio.run(_stored(server.url, naming))
    return side, info


def _prefect(options: Options, folder: Path, params: dict[str, Any]) -> tuple[Side, dict[str, Any]]:
    found = prefect_python(install=options.install_prefect)
    if found.python is None:
        return Side("Prefect", missing="skipped", reason=found.reason), {}
    env = prefect_environ(folder / "prefect-home")
    python = str(found.python)
    info: dict[str, Any] = {
        "version": found.version,
        "import_s": _import_time_s(python, "prefect", env, options.size(3, 1), folder),
    }
    side = _workload(python, "prefect", params, env, folder / "prefect.log")
    side.label, side.from_body = f"Prefect {found.version}", True
    return side, info


def _rate(per_task_ms: float | None) -> float | None:
    return 1000 / per_task_ms if per_task_ms else None


def _cell(side: Side, value: float | None) -> Cell:
    return side.missing or value


def _result(
    options: Options,
    proctor: Side,
    proctor_info: dict[str, Any],
    prefect: Side,
    prefect_info: dict[str, Any],
) -> Result:
    result = Result("flows", TITLE, prefect.label if prefect.figures else "Prefect")

    def both(metric: str, unit: str, p: float | None, q: float | None, verdict: Any) -> Row:
        return Row(metric, unit, _cell(proctor, p), _cell(prefect, q), verdict)

    def ms(side: Side, key: str) -> float | None:
        value = side.median_of(key)
        return None if value is None else value * 1000

    def mb(side: Side, key: str) -> float | None:
        return side.figures[key] / 1024 if side.figures else None

    seq = (proctor.per_task_ms("sequential"), prefect.per_task_ms("sequential"))
    sub = (proctor.per_task_ms("submitted"), prefect.per_task_ms("submitted"))
    seq_rate = (_rate(seq[0]), _rate(seq[1]))
    sub_rate = (_rate(sub[0]), _rate(sub[1]))
    import_s = (proctor_info.get("import_s"), prefect_info.get("import_s"))
    first = tuple(
        s.figures["first_flow_s"] * 1000 if s.figures else None for s in (proctor, prefect)
    )
    result.rows = [
        Row(
            "import time, fresh interpreter",
            "s",
            import_s[0],
            import_s[1] if import_s[1] is not None else _cell(prefect, None),
            at_most(import_s[0], 0.3, " s"),
        ),
        both("first flow call in a fresh process", "ms", first[0], first[1], None),
        both(
            "empty flow, median",
            "ms",
            ms(proctor, "empty_s"),
            ms(prefect, "empty_s"),
            at_most(ms(proctor, "empty_s"), 5.0, " ms"),
        ),
        both("sequential task overhead", "ms/task", seq[0], seq[1], None),
        both(
            "sequential tasks/s",
            "tasks/s",
            seq_rate[0],
            seq_rate[1],
            at_least(seq_rate[0], 3000),
        ),
        both(
            "sequential tasks/s vs Prefect",
            "tasks/s",
            seq_rate[0],
            seq_rate[1],
            ratio_at_least(seq_rate[0], seq_rate[1], 50, "Prefect"),
        ),
        both("submitted task overhead", "ms/task", sub[0], sub[1], None),
        both(
            "submitted tasks/s",
            "tasks/s",
            sub_rate[0],
            sub_rate[1],
            ratio_info(sub_rate[0], sub_rate[1]),
        ),
        both(
            "peak RSS, flow process",
            "MB",
            mb(proctor, "peak_rss_kib"),
            mb(prefect, "peak_rss_kib"),
            None,
        ),
    ]
    result.notes = _notes(options, proctor, proctor_info, prefect, prefect_info)
    result.raw = {
        "proctor": {**(proctor.figures or {}), **proctor_info},
        "prefect": {**(prefect.figures or {}), **prefect_info},
    }
    return result


def _notes(
    options: Options,
    proctor: Side,
    proctor_info: dict[str, Any],
    prefect: Side,
    prefect_info: dict[str, Any],
) -> list[str]:
    notes = [
        "tasks/s = 1 / per-task overhead; Proctor: (flow call - empty flow call) / tasks, "
        "Prefect: flow body / tasks (see bench/flows.py); "
        f"medians of {options.runs} flows per mode (empty flow: median of many)"
    ]
    if proctor.figures is not None:
        f = proctor.figures
        cpu_us = median(f["sequential_cpu_s"]) / int(f["tasks"]) * 1e6
        notes.append(
            f"Proctor: {cpu_us:.0f} us of CPU per sequential task (the flow process, all its "
            f"threads; nats-server apart): {1e6 / cpu_us:,.0f} tasks/s where it has a core to "
            "itself; the wall-clock rows above also count waiting for a core on a busy machine"
        )
        stored_at_return, after = f.get("stored_at_return"), proctor_info["stored_after_exit"]
        notes.append(
            f"Proctor: {f['tasks']} tasks per flow; every figure stops when the flow returns, "
            f"by then its events are acknowledged by JetStream: {stored_at_return} events "
            f"stored when the last flow returned, {after} after the process exited"
            + ("" if stored_at_return == after else " -- events were still in flight!")
            + ("" if after else " -- NO EVENTS: publishing was not measured!")
            + f" ({after / max(1, f['task_runs'] + f['flow_runs']):.1f} events per run)"
        )
    else:
        notes.append(f"Proctor flows: {proctor.missing} -- {proctor.reason}")
    if prefect.figures is not None:
        f = prefect.figures
        settle = f.get("settle_s", [])
        notes.append(
            f"Prefect: {f['tasks']} tasks per flow, ephemeral local API server (a subprocess, "
            f"peak RSS {f['children_peak_rss_kib'] / 1024:.0f} MB); a flow call ends by "
            "joining the heartbeat thread, which sleeps in 1 s steps (up to 1 s per flow)"
        )
        if settle:
            notes.append(
                "Prefect's API server stayed busy recording for "
                + ", ".join(f"{s:.1f}" for s in settle)
                + " s after each timed batch; the next timed flow waited for it to go idle"
            )
    else:
        notes.append(f"Prefect: {prefect.missing} -- {prefect.reason}")
    return notes


def run(options: Options) -> Result:
    proctor_params = {
        "empty_runs": options.size(200, 20),
        "tasks": options.size(1000, 100),
        "reps": options.runs,
    }
    prefect_params = {
        "empty_runs": options.size(10, 3),
        "tasks": options.size(200, 20),
        "reps": options.runs,
    }
    with tempfile.TemporaryDirectory(prefix="proctor-bench-flows-") as tmp:
        folder = Path(tmp)
        proctor, proctor_info = _proctor(options, folder, proctor_params)
        prefect, prefect_info = _prefect(options, folder, prefect_params)
    return _result(options, proctor, proctor_info, prefect, prefect_info)
