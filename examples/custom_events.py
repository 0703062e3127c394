"""Custom events: emit your own event from inside a flow, and react to it with an automation.

``emit_event(name, resource, payload=...)`` publishes an event; from inside a flow run it also
names that run as a related resource (role ``flow-run``), so the UI links the two. The
automation matches the event by name, by a label of its resource (``match``) and by a JSONPath
filter on its payload (``where``), and posts to Slack (here a local stand-in; pass your
incoming-webhook URL to ``big_order_alert``).

Starts a local server in a temporary home, applies the automation and runs the ``checkout``
flow for three orders; only the big one from the EU makes Slack hear about it::

    .venv/bin/python examples/custom_events.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from proctor import Automation, SendSlackMessage, emit_event, flow, on_event

HERE = Path(__file__).resolve().parent


@flow(name="checkout")
def checkout(order_id: str, region: str, total: float) -> str:
    """Takes an order and tells the world with a ``shop.order.placed`` event."""
    emit_event(
        "shop.order.placed",
        resource={"proctor.resource.id": f"shop.order.{order_id}", "shop.region": region},
        payload={"total": total, "currency": "EUR"},
    )
    return f"order {order_id} placed"


def big_order_alert(slack_url: str) -> Automation:
    """Orders over 1,000 EUR from an EU region, to Slack."""
    return Automation(
        name="big EU orders",
        trigger=on_event(
            "shop.order.placed", match={"shop.region": "eu-*"}, where="$.payload.total > 1000"
        ),
        actions=[
            SendSlackMessage(
                webhook_url=slack_url,
                text="Big order {{ event.resource['proctor.resource.id'] }} from "
                "{{ event.resource['shop.region'] }}: {{ event.payload.total }} EUR",
            )
        ],
    )


async def main() -> str:
    """Run the story; the text Slack received."""
    from examples.local import server_and_slack

    async with server_and_slack() as (_server, slack, url):
        print((await big_order_alert(url).aapply()).lines()[0])
        orders = [("1041", "eu-west", 80.0), ("1042", "us-east", 5000.0),
                  ("1043", "eu-west", 1250.0)]  # fmt: skip
        for order_id, region, total in orders:
            print(await asyncio.to_thread(checkout, order_id, region, total))
        message = await asyncio.wait_for(slack.messages.get(), 60)
        print(f"Slack received: {message['text']}")
        return str(message["text"])


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        sys.path.insert(0, str(HERE.parent))
        asyncio.run(main())
