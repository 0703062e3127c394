"""A signed GitHub push webhook starts a deployment, with parameters taken from the payload.

Starts a local Proctor server in a temporary home and serves the ``build-site`` flow from this
process (``build-site/on-push``). Creates the webhook ``POST /hooks/github-push`` (GitHub
signatures: ``X-Hub-Signature-256``), whose verified requests become ``webhook.github-push``
events, and an automation that runs the deployment for pushes to ``master`` with the commit
sha and the branch from the payload. Then sends a push as GitHub would (the body is
``examples/data/github-push.json``, signed with the webhook's secret) and prints the run::

    .venv/bin/python examples/webhook_to_flow.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from proctor import Automation, RunDeployment, Webhook, flow, get_run_logger, on_event

HERE = Path(__file__).resolve().parent


@flow(name="build-site")
def build_site(sha: str, branch: str) -> str:
    get_run_logger().info("building %s at %s", branch, sha[:7])
    return f"site built from {branch}@{sha[:7]}"


BUILD_ON_PUSH = Automation(
    name="build the site on a push to master",
    trigger=on_event("webhook.github-push", where="$.payload.ref == 'refs/heads/master'"),
    actions=[
        RunDeployment(
            deployment="build-site/on-push",
            parameters={
                "sha": "{{ event.payload.after }}",
                "branch": "{{ event.payload.ref | replace('refs/heads/', '') }}",
            },
        )
    ],
)


async def main() -> dict[str, Any]:
    """Run the story; the run that the push started (as its Completed event's payload)."""
    from examples.quickstart import SECRET, push  # sends the signed push, as GitHub does
    from proctor.core.settings import ProctorSettings
    from proctor.runtime.server import LocalServer

    server = LocalServer(ProctorSettings(), port=0)
    await server.start()
    assert server.bus is not None
    stop = asyncio.Event()
    started = await server.bus.subscribe("proctor.worker.started")
    serving = asyncio.create_task(build_site.aserve("on-push", stop=stop))
    try:
        async with started:
            await started.next(60)  # serving: its in-process worker is up
        created = await Webhook(slug="github-push", preset="github", secret=SECRET).aapply()
        print(f"webhook ready: POST {server.api_url}{created.webhook.url_path}")
        print((await BUILD_ON_PUSH.aapply()).lines()[0])
        async with await server.bus.subscribe("proctor.flow-run.*") as feed:
            await push(server.api_url)
            async with asyncio.timeout(60):
                while (event := await feed.next(60)).event != "proctor.flow-run.Completed":
                    pass
        run = event.payload["run"]
        print(f"{run['flow_name']} run {run['name']} Completed with {run['parameters']}")
        return dict(run)
    finally:
        stop.set()
        await serving
        await server.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main())
