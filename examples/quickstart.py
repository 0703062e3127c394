"""The quickstart (`make demo`): a local Proctor server, a worker, and three stories.

1. A signed GitHub push arrives at a webhook; an automation starts the `build-site`
   deployment with the commit sha from the payload.
2. The `nightly-report` flow fails; an automation posts a Slack message (to
   SLACK_WEBHOOK_URL if set, else to a local sink this demo prints).
3. Another automation retries the failed run, which succeeds.

Then it keeps running so you can open the UI. `--exit` stops after the stories (tests);
`--port N` picks the API/UI port (default 4200, 0 for a free one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

from proctor import (
    Automation,
    RetryFlowRun,
    RunDeployment,
    SendSlackMessage,
    Webhook,
    arun_deployment,
    on_event,
    on_flow_failed,
)
from proctor.core.settings import ProctorSettings
from proctor.events.model import Event
from proctor.runtime.api.serve import ApiServer
from proctor.runtime.server import LocalServer

HERE = Path(__file__).resolve().parent
POOL = "demo"
SECRET = "demo-github-secret"


def say(text: str) -> None:
    print(text, flush=True)


class SlackSink:
    """A stand-in for Slack's incoming webhook: prints what it receives."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        app = FastAPI()

        @app.post("/services/demo")
        async def receive(request: Request) -> str:
            message = await request.json()
            say("  [slack] " + message.get("text", "").replace("\n", "\n  [slack] "))
            self.received.set()
            return "ok"

        self.server = ApiServer(app, "127.0.0.1", 0)

    @property
    def url(self) -> str:
        return f"{self.server.url}/services/demo"


async def deploy(server: LocalServer) -> None:
    from examples.demo_flows import build_site, nightly_report

    for one in (build_site, nightly_report):
        await asyncio.to_thread(one.deploy, "demo", work_pool=POOL, working_dir=HERE.parent)
    say("  deployed build-site/demo and nightly-report/demo to work pool 'demo'")


async def automate(slack_url: str) -> None:
    rules = [
        Automation(
            name="build the site on a push",
            trigger=on_event("webhook.github-push", where="$.payload.ref == 'refs/heads/master'"),
            actions=[
                RunDeployment(
                    deployment="build-site/demo",
                    parameters={"sha": "{{ event.payload.after }}"},
                )
            ],
        ),
        Automation(
            name="tell slack when the report fails",
            trigger=on_flow_failed(deployment="nightly-report/demo"),
            actions=[SendSlackMessage(webhook_url=slack_url)],
        ),
        Automation(
            name="retry the report",
            trigger=on_flow_failed(deployment="nightly-report/demo"),
            actions=[RetryFlowRun(max_attempts=3)],
        ),
    ]
    for rule in rules:
        await rule.aapply()
        say(f"  automation applied: {rule.name}")


async def push(api_url: str) -> None:
    body = (HERE / "data" / "github-push.json").read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    async with httpx.AsyncClient(base_url=api_url) as http:
        answer = await http.post("/hooks/github-push", content=body, headers=headers)
    say(f"  signed GitHub push sent to /hooks/github-push: HTTP {answer.status_code}")


async def until(feed: Any, done: Any, timeout_s: float = 120) -> Event:
    """Print flow-run states from ``feed`` until ``done(event)``; return that event."""
    async with asyncio.timeout(timeout_s):
        while True:
            event: Event = await feed.__anext__()
            run, state = event.payload.get("run", {}), event.payload.get("state", {})
            why = f"  ({state['message']})" if state.get("message") else ""
            say(f"  {run.get('flow_name', '?'):15} {run.get('name', '?'):22} {event.event}{why}")
            if done(event):
                return event


def reached(flow_name: str, state: str) -> Any:
    """A check for ``until``: a run of ``flow_name`` entered ``state``."""

    def check(event: Event) -> bool:
        run = event.payload.get("run", {})
        return bool(run.get("flow_name") == flow_name and event.event.endswith("." + state))

    return check


async def main(keep_running: bool, port: int) -> None:
    slack_url = os.environ.get("SLACK_WEBHOOK_URL")
    sink = None if slack_url else SlackSink()
    if sink is not None:
        await sink.server.start()
        os.environ["PROCTOR_OUTGOING_ALLOW"] = "127.0.0.1"  # the local sink is on loopback
        slack_url = sink.url
    assert slack_url is not None
    settings = ProctorSettings()
    server = LocalServer(settings, port=port)
    await server.start()
    assert server.bus is not None
    say(f"Proctor server up: API and UI at {server.api_url}, NATS at {server.nats_url}")
    proctor = str(Path(sysconfig.get_path("scripts")) / "proctor")
    worker = await asyncio.create_subprocess_exec(
        proctor, "worker", "start", "--pool", POOL, cwd=HERE.parent
    )
    try:
        await deploy(server)
        await Webhook(slug="github-push", preset="github", secret=SECRET).aapply()
        say("  webhook /hooks/github-push created (GitHub signatures)")
        await automate(slack_url)
        feed = await server.bus.subscribe("proctor.flow-run.*")

        say("\n1. A signed GitHub push starts the build-site deployment")
        await push(server.api_url)
        done = await until(feed, reached("build-site", "Completed"))
        say(f"  build-site ran with sha={done.payload['run']['parameters'].get('sha', '')[:12]}…")

        say("\n2. nightly-report fails: Slack is told, and 3. the automation retries it")
        await arun_deployment("nightly-report/demo", timeout_s=0)
        await until(feed, reached("nightly-report", "Failed"))
        await until(feed, reached("nightly-report", "Completed"))
        if sink is not None:
            await asyncio.wait_for(sink.received.wait(), 60)
        say("  the retry completed")
        await feed.close()

        say(f"\nOpen {server.api_url} to see the runs, their graphs and logs, the events and")
        say("the automations that fired. `proctor run ls`, `proctor events stream` work too.")
        if keep_running:
            say("Ctrl-C to stop.")
            await server.serve_until_stopped()
    finally:
        with contextlib.suppress(ProcessLookupError):  # gone already: Ctrl-C reached it too
            worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await server.stop()
        if sink is not None:
            await sink.server.stop()
    say("Stopped.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exit", action="store_true", help="stop after the stories")
    parser.add_argument("--port", type=int, default=ProctorSettings().api_port)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    asyncio.run(main(keep_running=not args.exit, port=args.port))
