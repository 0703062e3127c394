"""The server: time to ready, recorder lag behind a 1,000-task flow, idle memory; vs Prefect 3.

Each run starts ``proctor server start`` (embedded NATS, SQLite, recorders, API) as a
subprocess in a fresh home on a free loopback port, and times it from ``Popen`` to ``/ready``
answering 200, with the CPU time its process tree (the server and its nats-server) used by
then. Its modules' bytecode is cached, as an installed package's is (pip compiles it at
install time; an environment setting ``PYTHONDONTWRITEBYTECODE`` would otherwise have every
start compile Proctor's ~220 modules again, ~130 ms of CPU): an untimed import writes it first.
Once ready it is left idle a few seconds and the RSS of its process tree (the
server and its nats-server) is read from ``/proc``. Then a flow mapping a no-op task over
1,000 inputs runs in this process against it (found through the discovery file, as a user's
script finds it); the lag is from the flow call returning (every event acknowledged by
JetStream) until ``/api/task-runs/count`` counts all 1,000 task runs Completed and a listing
of them (``/api/task-runs``, one page of 1,000) has returned them all. The server's CPU time
(its process tree: the server and its nats-server) from the flow's start to the lag's end is
read from ``/proc``, so figures taken on a busy machine can be compared.

Prefect: ``prefect server start`` (its virtualenv, ``bench.prefect_env``) timed to
``/api/health``; the same idle RSS and CPU time of its process tree; the same flow
(``Task.map`` on its default thread pool) in a subprocess against it, and the lag from the
flow returning until ``/api/task_runs/count`` counts 1,000 Completed task runs of that flow
run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    Cell,
    Options,
    Result,
    Row,
    at_most,
    cache_bytecode,
    median,
    proctor_environ,
    stop_process,
)
from bench.prefect_env import prefect_environ, prefect_python
from proctor import flow, task
from proctor.events.emit import reset_default_publisher
from proctor.runtime.api.serve import free_port
from proctor.runtime.client import ApiTransport, ProctorClient
from proctor.runtime.run_events import StateType
from proctor.runtime.store import FlowRunFilter, TaskRunFilter

__all__ = ("TITLE", "run")

TITLE = "start to ready, recorder lag behind a 1,000-task flow, idle RSS; vs Prefect 3"
FLOW_NAME = "bench-server-lag"
IDLE_S = 5.0
POLL_S = 0.02
_TIMEOUT_S = 300.0
_KB = 1024

# Run by Prefect's interpreter: argv[1] = tasks; prints the flow run id and when it returned.
_PREFECT_FLOW = """
import json, sys, time
from prefect import flow, task

@task
def double(x):
    return 2 * x

@flow(name="bench-server-lag")
def lag(n):
    return sum(double.map(range(n)).result())

state = lag(int(sys.argv[1]), return_state=True)
returned = time.time()
print(json.dumps({"flow_run_id": str(state.state_details.flow_run_id), "returned": returned}),
      flush=True)
"""


@task
def _double(x: int) -> int:
    return 2 * x


@flow(name=FLOW_NAME)
def _lag_flow(n: int) -> int:
    return sum(_double.map(range(n)).result())


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    with contextlib.suppress(FileNotFoundError):
        return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]
    return []


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, pending = [], [pid]
    while pending:
        one = pending.pop()
        found.append(one)
        pending += _children(one)
    return found


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MiB."""
    total_kb = 0
    for one in _tree(pid):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / _KB


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its living descendants."""
    ticks = 0
    for one in _tree(pid):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_ready(process: subprocess.Popen[bytes], url: str, started: float, log: Path) -> float:
    """Seconds from ``started`` until ``url`` answers 200 (polled every ``POLL_S``)."""
    with httpx.Client(timeout=1) as http:
        while time.perf_counter() - started < _TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code == 200:
                    return time.perf_counter() - started
            time.sleep(POLL_S)  # another program coming up: nothing to wait on but its port
    raise RuntimeError(f"{url} did not answer within {_TIMEOUT_S:.0f} s; see {log}")


@contextlib.contextmanager
def _server(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running, its output in ``log``; interrupted (then killed) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=log.parent, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_process(process)


@contextlib.contextmanager
def _proctor_home(home: Path) -> Iterator[None]:
    """This process's flows publish to the server under ``home`` (found by discovery)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PROCTOR_")}
    for name in saved:
        del os.environ[name]
    os.environ["PROCTOR_HOME"] = str(home)
    reset_default_publisher()
    try:
        yield
    finally:
        reset_default_publisher()
        del os.environ["PROCTOR_HOME"]
        os.environ.update(saved)


async def _proctor_lag(api_url: str, tasks: int) -> tuple[float, float]:
    """(flow call seconds, seconds from its return until every task run is listed)."""
    started = time.perf_counter()
    assert await asyncio.to_thread(_lag_flow, tasks) == tasks * (tasks - 1)
    returned = time.perf_counter()
    async with ProctorClient(ApiTransport(api_url)) as client:
        run_ids: list[Any] = []
        while time.perf_counter() - returned < _TIMEOUT_S:
            if not run_ids:
                runs = await client.flow_runs.list(FlowRunFilter(flow_names=[FLOW_NAME]))
                run_ids = [r.id for r in runs.items]
            if run_ids:
                done = TaskRunFilter(flow_run_ids=run_ids, state_types=[StateType.COMPLETED])
                if await client.task_runs.count(done) >= tasks:
                    listed = await client.task_runs.list(done, limit=tasks)
                    if len(listed.items) != tasks:
                        raise RuntimeError(f"{tasks} counted, {len(listed.items)} listed")
                    return returned - started, time.perf_counter() - returned
            await asyncio.sleep(POLL_S)
    raise RuntimeError(f"the task runs were not all listed within {_TIMEOUT_S:.0f} s")


def _proctor_once(tasks: int) -> dict[str, float]:
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    with tempfile.TemporaryDirectory(prefix="proctor-bench-server-") as folder:
        home, port = Path(folder) / "home", free_port()
        home.mkdir()
        env = proctor_environ(home)
        command = [proctor, "server", "start", "--port", str(port)]
        ready_load = os.getloadavg()[0]
        started = time.perf_counter()
        with _server(command, env, Path(folder) / "server.log") as process:
            url = f"http://127.0.0.1:{port}"
            ready_s = _wait_ready(process, f"{url}/ready", started, Path(folder) / "server.log")
            ready_cpu_s = _tree_cpu_s(process.pid)
            time.sleep(IDLE_S)  # idle on purpose: the memory of a server doing nothing
            rss_mb = _tree_rss_mb(process.pid)
            with _proctor_home(home):
                cpu_before, load = _tree_cpu_s(process.pid), os.getloadavg()[0]
                flow_s, lag_s = asyncio.run(_proctor_lag(url, tasks))
                server_cpu_s = _tree_cpu_s(process.pid) - cpu_before
    return {
        "ready_s": ready_s,
        "ready_cpu_s": ready_cpu_s,
        "ready_load_1min": ready_load,
        "idle_rss_mb": rss_mb,
        "flow_s": flow_s,
        "lag_s": lag_s,
        "server_cpu_s": server_cpu_s,
        "load_average_1min": load,
    }


def _prefect_lag(
    python: str, env: dict[str, str], url: str, tasks: int, log: Path, server: int
) -> dict[str, float]:
    started, cpu_before = time.time(), _tree_cpu_s(server)
    with log.open("w") as errors:
        workload = subprocess.Popen(
            [python, "-c", _PREFECT_FLOW, str(tasks)], env={**env, "PREFECT_API_URL": url},
            cwd=log.parent, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        assert workload.stdout is not None
        line = workload.stdout.readline()
        if not line:
            raise RuntimeError(f"the Prefect flow failed (exit {workload.wait()}); see {log}")
        figures = json.loads(line)
        where = {
            "flow_runs": {"id": {"any_": [figures["flow_run_id"]]}},
            "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
        }
        with httpx.Client(base_url=url, timeout=10) as http:
            while time.time() - figures["returned"] < _TIMEOUT_S:
                if http.post("/task_runs/count", json=where).json() >= tasks:
                    lag_s = time.time() - figures["returned"]
                    return {
                        "flow_s": figures["returned"] - started,
                        "lag_s": lag_s,
                        "server_cpu_s": _tree_cpu_s(server) - cpu_before,
                    }
                time.sleep(POLL_S)
        raise RuntimeError(f"Prefect did not list the task runs within {_TIMEOUT_S:.0f} s")
    finally:
        workload.terminate()
        workload.wait(60)


def _prefect(options: Options, tasks: int) -> tuple[dict[str, Any] | None, str]:
    found = prefect_python(install=options.install_prefect)
    if found.python is None:
        return None, found.reason
    python = str(found.python)
    with tempfile.TemporaryDirectory(prefix="proctor-bench-prefect-server-") as folder:
        env = prefect_environ(Path(folder) / "prefect-home")
        port = free_port()
        command = [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        log = Path(folder) / "prefect-server.log"
        started = time.perf_counter()
        try:
            with _server([*command, "--port", str(port)], env, log) as process:
                url = f"http://127.0.0.1:{port}/api"
                ready_s = _wait_ready(process, f"{url}/health", started, log)
                ready_cpu_s = _tree_cpu_s(process.pid)
                time.sleep(IDLE_S)
                rss_mb = _tree_rss_mb(process.pid)
                flow_log = Path(folder) / "prefect-flow.log"
                lag = _prefect_lag(python, env, url, tasks, flow_log, process.pid)
        except RuntimeError as error:
            return None, str(error)
    found_ready = {"ready_s": ready_s, "ready_cpu_s": ready_cpu_s}
    return {"version": found.version, **found_ready, "idle_rss_mb": rss_mb, **lag}, ""


def run(options: Options) -> Result:
    tasks = options.size(1000, 100)
    cache_bytecode("proctor.cli.main, proctor.runtime.server")
    runs = [_proctor_once(tasks) for _ in range(options.runs)]
    prefect, reason = _prefect(options, tasks)

    def ours(key: str) -> float:
        return median([r[key] for r in runs])

    def theirs(key: str) -> Cell:
        return prefect[key] if prefect else "skipped"

    result = Result("server", TITLE, f"Prefect {prefect['version']}" if prefect else "Prefect 3")

    def row(metric: str, unit: str, key: str, bound: float | None = None) -> Row:
        verdict = at_most(ours(key), bound, f" {unit}") if bound is not None else None
        return Row(metric, unit, ours(key), theirs(key), verdict)

    result.rows = [
        row("start -> ready", "s", "ready_s", 2),
        row("server CPU, start -> ready", "s", "ready_cpu_s"),
        row(f"flow of {tasks:,} tasks", "s", "flow_s"),
        row("recorder lag after the flow", "s", "lag_s", 1),
        row("server CPU, flow + lag", "s", "server_cpu_s"),
        row("idle RSS, server + broker", "MB", "idle_rss_mb", 150),
    ]
    loads = ", ".join(f"{r['load_average_1min']:.1f}" for r in runs)
    ready_loads = ", ".join(f"{r['ready_load_1min']:.1f}" for r in runs)
    result.notes = [
        f"Proctor: medians of {options.runs} runs, each a fresh `proctor server start` (embedded "
        "NATS, SQLite) timed from Popen to /ready; RSS of the server and its nats-server after "
        f"{IDLE_S:.0f} s idle; lag: from the flow returning to /api/task-runs/count counting "
        "every task run Completed and /api/task-runs then listing them all (polled every "
        f"{POLL_S * 1000:.0f} ms); server CPU: user + system time of the server and its "
        f"nats-server from the flow's start to the lag's end; load average at the flow: {loads}; "
        f"at the start: {ready_loads}; server CPU at ready: user + system time of the server "
        "and its nats-server when /ready first answered 200 (bytecode cached beforehand)",
        "Prefect: one run; `prefect server start` timed to /api/health; RSS and CPU of its process "
        "tree; lag: from the flow returning to /api/task_runs/count counting every task run "
        "Completed"
        if prefect
        else f"Prefect: skipped ({reason})",
    ]
    result.raw = {"proctor": runs, "prefect": prefect or {"skipped": reason}}
    return result
