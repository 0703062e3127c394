"""Story 3: a cron schedule starts a deployment's run at the slot, once, with three engines.

Starts a local Proctor server running three automation engines (as three replicas would),
and a worker, in a temporary home; deploys ``report`` with the schedule ``* * * * *`` (every
minute, so this takes up to a minute; ``--interval 5`` schedules every 5 s instead), and
prints each run as it starts, next to its slot. Each slot makes one run, whichever engine
fires it::

    python examples/cron_schedule.py [--slots 2] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import sysconfig
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from proctor import Cron, Interval, flow

HERE = Path(__file__).resolve().parent
POOL = "example"


@flow(name="report")
def report() -> str:
    return f"report built at {datetime.now(UTC):%H:%M:%S}"


async def main(slots: int, interval: float | None) -> None:
    from proctor.core.settings import ProctorSettings
    from proctor.runtime.automation_service import automation_service
    from proctor.runtime.deployments.runtime import runtime_service
    from proctor.runtime.server import LocalServer

    engines = [automation_service] * 3  # three engine replicas share the clock's work
    server = LocalServer(ProctorSettings(), port=0, services=[runtime_service, *engines])
    await server.start()
    assert server.bus is not None
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    worker = await asyncio.create_subprocess_exec(
        proctor, "worker", "start", "--pool", POOL, cwd=HERE.parent
    )
    try:
        schedule = Interval(interval) if interval else Cron("* * * * *", timezone="Europe/Paris")
        feed = await server.bus.subscribe("proctor.flow-run.*")
        await asyncio.to_thread(
            report.deploy, "minutely", work_pool=POOL, working_dir=HERE.parent, schedules=[schedule]
        )
        print(f"deployed report/minutely on {schedule!r}; waiting for {slots} slot(s)")
        started: dict[str, str] = {}
        async with asyncio.timeout(60 * slots + 60):
            async for event in feed:
                run, state = event.payload["run"], event.payload["state"]
                if state["name"] == "Running":
                    started[run["id"]] = state["timestamp"]
                if state["name"] == "Completed":
                    slot = run["expected_start_time"]
                    print(f"{run['name']:20} slot {slot}  started {started.get(run['id'])}")
                    if len(started) >= slots:
                        break
        print(f"{len(started)} run(s) for {slots} slot(s)")
        await feed.close()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--interval", type=float, default=None, help="seconds, instead of cron")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main(args.slots, args.interval))
