"""The flow workload, the same code for both libraries: ``python flow_workload.py LIB PARAMS``.

``LIB`` is ``proctor`` or ``prefect``; ``PARAMS`` is JSON with ``empty_runs``, ``tasks`` and
``reps``. Times an empty flow, a flow calling a no-op task ``tasks`` times in sequence, and one
submitting them all then collecting the results (each call as a whole, and its body alone);
reports peak memory. Prints one line
``BENCH-RESULT <json>``. Runs in a fresh interpreter, so it imports nothing from ``bench``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "BENCH-RESULT "


def _report(result: dict[str, Any]) -> None:
    print(PREFIX + json.dumps(result), flush=True)


def _load(library: str) -> tuple[Any, Any, str]:
    if library == "prefect":
        import prefect  # type: ignore[import-not-found, unused-ignore]
        from prefect import flow, task  # type: ignore[import-not-found, unused-ignore]

        return flow, task, str(prefect.__version__)
    import proctor
    from proctor import flow, task  # type: ignore[attr-defined, unused-ignore]

    return flow, task, proctor.__version__


def _flows(flow: Any, task: Any, body_s: dict[str, list[float]]) -> tuple[Any, Any, Any]:
    """The three flows, decorated as a user would (``flow(f)`` is ``@flow``).

    The task flows also append the time their body took to ``body_s``: the flow call minus
    the engine's set-up and tear-down.
    """

    def noop(i: int) -> int:
        return i

    noop_task = task(noop)

    def empty() -> None:
        return None

    def sequential(n: int) -> int:
        started = time.perf_counter()
        total: int = sum(noop_task(i) for i in range(n))
        body_s["sequential"].append(time.perf_counter() - started)
        return total

    def submitted(n: int) -> int:
        started = time.perf_counter()
        futures = [noop_task.submit(i) for i in range(n)]
        total: int = sum(f.result() for f in futures)
        body_s["submitted"].append(time.perf_counter() - started)
        return total

    return flow(empty), flow(sequential), flow(submitted)


def _timed(call: Callable[..., Any], *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def _descendants(root: int) -> dict[int, int]:
    """The live processes descended from ``root`` (Linux), with their CPU ticks so far."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, utime + stime)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        except (OSError, IndexError, ValueError):
            continue
    family: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (parent, _) in stats.items() if parent in frontier} - family
        family |= frontier
    return {pid: stats[pid][1] for pid in family}


def _settle(limit_s: float = 120.0) -> float:
    """Wait until helper processes (Prefect's ephemeral API server) are idle; seconds waited.

    The next timed flow would otherwise pay for the backlog the previous one left behind.
    """
    started = time.perf_counter()
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    before = _descendants(os.getpid())
    while before and time.perf_counter() - started < limit_s:
        time.sleep(0.5)
        after = _descendants(os.getpid())
        busy_s = sum(after.get(pid, 0) - ticks for pid, ticks in before.items()) * tick_s
        if busy_s < 0.5 * 0.05:  # under 5% of one core
            break
        before = after
    return time.perf_counter() - started


def _peak_kib(pid: int) -> int:
    """Peak RSS (VmHWM) of ``pid`` since it last exec'd; 0 if it is gone (Linux).

    Not ``ru_maxrss``: Linux carries that over ``exec`` from the forked parent's copy, so a
    child of a big parent would report the parent's size.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stored_events() -> int | None:
    """Events in Proctor's stream now (the bench compares it with the count after exit)."""
    url = os.environ.get("PROCTOR_NATS_URL")
    if url is None:
        return None
    import asyncio

    from proctor.events.bus import JetStreamEventBus
    from proctor.events.naming import Naming

    async def count() -> int:
        naming = Naming(os.environ.get("PROCTOR_NAMESPACE", "proctor"))
        async with await JetStreamEventBus.connect(url, naming=naming, declare=False) as bus:
            return (await bus.stats()).messages

    return asyncio.run(count())


def main(library: str, params: dict[str, Any]) -> None:
    try:
        flow, task, version = _load(library)
    except ImportError as error:
        _report({"available": False, "reason": f"{type(error).__name__}: {error}"})
        return
    body_s: dict[str, list[float]] = {"sequential": [], "submitted": []}
    empty, sequential, submitted = _flows(flow, task, body_s)
    tasks, reps = int(params["tasks"]), int(params["reps"])
    first_flow_s = _timed(empty)  # Prefect starts its ephemeral API server here
    for _ in range(3):
        empty()
    sequential(10)
    submitted(10)
    settle_s = [_settle()]
    empty_s = [_timed(empty) for _ in range(int(params["empty_runs"]))]
    sequential_s, submitted_s, sequential_cpu_s = [], [], []
    for _ in range(reps):
        settle_s.append(_settle())
        cpu_before = time.process_time()
        sequential_s.append(_timed(sequential, tasks))
        sequential_cpu_s.append(time.process_time() - cpu_before)
        settle_s.append(_settle())
        submitted_s.append(_timed(submitted, tasks))
    settle_s.append(_settle())
    result = {
        "available": True,
        "version": version,
        "tasks": tasks,
        "first_flow_s": first_flow_s,
        "empty_s": empty_s,
        "sequential_s": sequential_s,
        "sequential_cpu_s": sequential_cpu_s,
        "submitted_s": submitted_s,
        "sequential_body_s": body_s["sequential"][-reps:],
        "submitted_body_s": body_s["submitted"][-reps:],
        "settle_s": settle_s,
        "peak_rss_kib": _peak_kib(os.getpid()),
        "children_peak_rss_kib": sum(_peak_kib(pid) for pid in _descendants(os.getpid())),
        "flow_runs": 1 + 3 + 2 + len(empty_s) + 2 * reps,
        "task_runs": 20 + 2 * reps * tasks,
    }
    if library == "proctor":
        result["stored_at_return"] = _stored_events()
    _report(result)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
