"""Threshold and absence: alert on 3 failed payments within a minute, and on no new order for
10 minutes.

``on_event(..., threshold=3, within=1 minute)`` fires on the third matching event of a window
(reactive). A ``posture="proactive"`` trigger fires when its window ends with too few events:
here, when no ``orders.created`` arrives for 10 minutes (each order opens a new window). Both
post to Slack (here a local stand-in; pass your incoming-webhook URL to ``automations``).

Starts a local server in a temporary home, applies both automations, emits three failed
payments and one order, then stays quiet. So that the demo does not take 10 minutes, it waits
``--quiet-seconds`` (default 5) instead::

    .venv/bin/python examples/threshold_and_proactive.py [--quiet-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from proctor import Automation, EventTrigger, SendSlackMessage, aemit_event, on_event

HERE = Path(__file__).resolve().parent


def automations(slack_url: str, quiet: timedelta = timedelta(minutes=10)) -> list[Automation]:
    """The two rules, posting to ``slack_url``; ``quiet``: how long without an order is bad."""
    return [
        Automation(
            name="payments failing",
            trigger=on_event("payments.failed", threshold=3, within=timedelta(minutes=1)),
            actions=[
                SendSlackMessage(
                    webhook_url=slack_url,
                    text="3 payments failed within a minute; the last: "
                    "{{ event.payload.order }} ({{ event.payload.reason }})",
                )
            ],
        ),
        Automation(
            name="no orders",
            trigger=EventTrigger(expect=["orders.created"], posture="proactive", within=quiet),
            actions=[
                SendSlackMessage(
                    webhook_url=slack_url,
                    text=f"No orders.created event for {quiet}: is the shop down?",
                )
            ],
        ),
    ]


async def main(quiet: timedelta = timedelta(seconds=5)) -> list[str]:
    """Run the story; the texts Slack received."""
    from examples.local import server_and_slack

    async with server_and_slack() as (_server, slack, url):
        for rule in automations(url, quiet):
            print((await rule.aapply()).lines()[0])
        for order, reason in [("o-1", "card declined"), ("o-2", "expired"), ("o-3", "fraud")]:
            payment = {"proctor.resource.id": f"shop.payment.{order}"}
            await aemit_event(
                "payments.failed", payment, payload={"order": order, "reason": reason}
            )
            print(f"payments.failed {order}")
        await aemit_event("orders.created", {"proctor.resource.id": "shop.order.o-4"})
        print(f"orders.created o-4, then nothing for {quiet.total_seconds():g} s")
        texts: list[str] = []
        while len(texts) < 2:
            message = await asyncio.wait_for(slack.messages.get(), 60 + quiet.total_seconds())
            texts.append(message["text"])
            print(f"Slack received: {message['text']}")
        return texts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main(timedelta(seconds=args.quiet_seconds)))
