"""What the event examples share: a local Proctor server in this process, and a stand-in for
Slack's incoming webhook on 127.0.0.1 (``alert_on_failure.FakeSlack``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from examples.alert_on_failure import FakeSlack
from proctor.core.settings import ProctorSettings
from proctor.runtime.server import LocalServer


@contextlib.asynccontextmanager
async def server_and_slack() -> AsyncIterator[tuple[LocalServer, FakeSlack, str]]:
    """A started server (embedded NATS, SQLite, automation engine) and the Slack stand-in with
    its webhook URL; both stopped on exit."""
    slack = FakeSlack()
    url = await slack.start()
    os.environ["PROCTOR_OUTGOING_ALLOW"] = "127.0.0.1"  # automations may call the stand-in
    server = LocalServer(ProctorSettings(), port=0)
    try:
        await server.start()
        yield server, slack, url
    finally:
        await server.stop()
        await slack.stop()
