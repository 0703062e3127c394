"""Story 2: a run fails, or its process dies (Crashed), and an automation runs it again until it
succeeds or its attempts run out.

Starts a local Proctor server and a worker in a temporary home, deploys ``flaky`` (its process
dies on the first attempt, it raises on the second, it succeeds on the third), applies
``on_flow_failed(deployment="flaky/example") → RetryFlowRun(max_attempts=3)``, requests one run,
and prints every run of the chain as it goes::

    python examples/retry_failed_runs.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
import tempfile
from pathlib import Path

from proctor import Automation, RetryFlowRun, arun_deployment, flow, on_flow_failed

HERE = Path(__file__).resolve().parent
POOL = "example"
SHOWN = ("Running", "Crashed", "Failed", "Completed")


@flow(name="flaky")
def flaky(table: str = "orders") -> str:
    """Dies on its first attempt, fails on its second, succeeds on its third."""
    counter = Path(os.environ["PROCTOR_HOME"]) / "flaky-attempts"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt == 1:
        os._exit(3)  # the run's process dies: the worker records the run Crashed
    if attempt == 2:
        raise ConnectionError(f"lost the connection while loading {table}")
    return f"{table} loaded on attempt {attempt}"


async def main() -> None:
    from proctor.core.settings import ProctorSettings
    from proctor.runtime.server import LocalServer

    server = LocalServer(ProctorSettings(), port=0)
    await server.start()
    assert server.bus is not None
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    worker = await asyncio.create_subprocess_exec(
        proctor, "worker", "start", "--pool", POOL, cwd=HERE.parent
    )
    try:
        await asyncio.to_thread(flaky.deploy, "example", work_pool=POOL, working_dir=HERE.parent)
        retry = Automation(
            name="retry flaky",
            trigger=on_flow_failed(deployment="flaky/example"),
            actions=[RetryFlowRun(max_attempts=3)],
        )
        print((await retry.aapply()).lines()[0])
        feed = await server.bus.subscribe("proctor.flow-run.*")
        await arun_deployment("flaky/example", timeout_s=0)
        async with asyncio.timeout(120):
            async for event in feed:
                run, state = event.payload["run"], event.payload["state"]
                if event.event.rsplit(".", 1)[-1] not in (
                    "Running",
                    "Crashed",
                    "Failed",
                    "Completed",
                ):
                    continue
                link = f" (retry of {run['retry_of'][:8]})" if run.get("retry_of") else ""
                why = f": {state['message']}" if state.get("message") else ""
                print(f"{run['name']:20} {state['name']:10}{link}{why}")
                if state["name"] == "Completed":
                    break
        await feed.close()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await server.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main())
