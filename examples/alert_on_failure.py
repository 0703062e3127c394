"""Story 1: a flow fails, and Slack gets one message naming the flow, run, state and error.

Starts a local Proctor server (embedded NATS, SQLite, the automation engine) in a temporary
home, a stand-in for Slack's incoming webhook on 127.0.0.1 (or uses SLACK_WEBHOOK_URL), applies
one automation, runs a flow that fails, and prints the message Slack received::

    python examples/alert_on_failure.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

from proctor import Automation, SendSlackMessage, flow, get_run_logger, on_flow_failed

SLACK_PATH = "/services/T000/B000/example"


@flow(name="etl")
def etl(day: str) -> int:
    """Loads a day of orders; this one finds none and fails."""
    logger = get_run_logger()
    logger.info("reading orders for %s", day)
    logger.warning("the source returned 0 rows")
    raise ValueError(f"no orders for {day}: the source is empty")


class FakeSlack:
    """Answers ``ok`` like Slack's incoming webhooks, and keeps what it receives."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.count = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._receive, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{SLACK_PATH}"

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in head.decode("latin-1").split("\r\n")
            if line.lower().startswith("content-length:")
        )
        self.count += 1
        self.messages.put_nowait(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def main() -> None:
    from proctor.core.settings import ProctorSettings
    from proctor.runtime.server import LocalServer

    slack = FakeSlack()
    url = os.environ.get("SLACK_WEBHOOK_URL") or await slack.start()
    os.environ["PROCTOR_OUTGOING_ALLOW"] = "127.0.0.1"  # the stand-in listens on loopback
    server = LocalServer(ProctorSettings(), port=0)
    await server.start()
    try:
        rule = Automation(
            name="etl failures to Slack",
            trigger=on_flow_failed("etl"),
            actions=[SendSlackMessage(webhook_url=url)],
        )
        print((await rule.aapply()).lines()[0])
        state = await asyncio.to_thread(etl, "2026-06-01", return_state=True)
        print(f"the etl run ended {state.name}: {state.message}")
        if url != os.environ.get("SLACK_WEBHOOK_URL"):
            message = await asyncio.wait_for(slack.messages.get(), 60)
            print("Slack received:")
            for block in message.get("blocks", []):
                texts = [field["text"] for field in block.get("fields", [])]
                texts += [block["text"]["text"]] if isinstance(block.get("text"), dict) else []
                for text in texts:
                    print("  " + text.replace("\n", "\n    "))
            await asyncio.sleep(1)  # allow-sleep: show that no second message follows
            print(f"messages received: {slack.count}")
    finally:
        await server.stop()
        await slack.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="proctor-example-") as home:
        os.environ.setdefault("PROCTOR_HOME", home)
        asyncio.run(main())
