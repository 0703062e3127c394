"""Compound and sequence triggers: fire when several events have all happened, or happened in
order.

``CompoundTrigger(require="all")`` fires once each of its triggers has fired within ``within``
of the others, in any order (``"any"`` or a number work too): here, a release is ready when the
tests passed, the security scan passed and QA approved, within a day. ``SequenceTrigger``
fires when its triggers fire in order: a deploy that started, then failed, within 30 minutes.
Both post to Slack (here a local stand-in; pass your incoming-webhook URL to ``automations``).

Starts a local server in a temporary home, applies both automations and emits the events::

    .venv/bin/python examples/compound_trigger.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from proctor import (
    Automation,
    CompoundTrigger,
    SendSlackMessage,
    SequenceTrigger,
    aemit_event,
    on_event,
)

HERE = Path(__file__).resolve().parent
RELEASE_GATES = ("ci.tests.passed", "ci.scan.passed", "qa.approved")


def automations(slack_url: str) -> list[Automation]:
    """The two rules, posting to ``slack_url``."""
    return [
        Automation(
            name="release ready",
            trigger=CompoundTrigger(
                triggers=[on_event(name) for name in RELEASE_GATES],
                require="all",
                within=timedelta(days=1),
            ),
            actions=[
                SendSlackMessage(
                    webhook_url=slack_url,
                    text="Release {{ event.payload.version }} is ready: tests, scan and QA passed",
                )
            ],
        ),
        Automation(
            name="failed deploy",
            trigger=SequenceTrigger(
                triggers=[on_event("deploy.started"), on_event("deploy.failed")],
                within=timedelta(minutes=30),
            ),
            actions=[
                SendSlackMessage(
                    webhook_url=slack_url,
                    text="Deploy of {{ event.payload.version }} failed: roll back?",
                )
            ],
        ),
    ]


async def emit(name: str, version: str) -> None:
    await aemit_event(
        name, {"proctor.resource.id": f"release.{version}"}, payload={"version": version}
    )
    print(name, version)


async def main() -> list[str]:
    """Run the story; the texts Slack received."""
    from examples.local import server_and_slack

    async with server_and_slack() as (_server, slack, url):
        for rule in automations(url):
            print((await rule.aapply()).lines()[0])
        for name in ("qa.approved", "ci.tests.passed", "deploy.failed", "ci.scan.passed"):
            await emit(name, "1.4.0")  # the gates in any order; a failure with no start first
        texts = [(await asyncio.wait_for(slack.messages.get(), 60))["text"]]
        print(f"Slack received: {texts[-1]}")
        for name in ("deploy.started", "deploy.failed"):
            await emit(name, "1.4.0")
        texts.append((await asyncio.wait_for(slack.messages.get(), 60))["text"])
        print(f"Slack received: {texts[-1]}")
        return texts


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main())
