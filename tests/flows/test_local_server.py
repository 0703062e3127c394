"""With a local server running, a flow's events and logs reach it with no configuration."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from proctor import flow, get_run_logger
from proctor.core.settings import ProctorSettings
from proctor.events.bus import JetStreamEventBus
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.engine.logs import RunLog
from proctor.runtime.server import LocalServer
from tests.conftest import TEST_STREAM

pytestmark = pytest.mark.nats


async def test_a_script_finds_the_local_server_through_discovery(
    nats_server: EmbeddedNats, naming: Naming, isolated_environment: Path
) -> None:
    settings = ProctorSettings(
        home=isolated_environment, nats_url=nats_server.url, namespace=naming.namespace
    )
    server = LocalServer(settings, port=0, stream=TEST_STREAM)  # never assume 4200 free
    await server.start()  # declares the event and log streams, writes the discovery file
    try:

        @flow
        def discovered() -> str:
            get_run_logger().info("found the server")
            return "ok"

        # The flow sees no PROCTOR_NATS_URL, only PROCTOR_HOME with the discovery file in it.
        assert discovered() == "ok"

        bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, declare=False)
        try:
            stats = await bus.stats()
            assert stats.messages == 3  # Pending, Running, Completed
            info = await bus.js.stream_info(naming.logs_stream)
            lines = [
                RunLog.model_validate_json(
                    (await bus.js.get_msg(naming.logs_stream, seq)).data or b""
                ).message
                for seq in range(info.state.first_seq, info.state.last_seq + 1)
            ]
            assert "found the server" in lines
        finally:
            for stream in (naming.events_stream, naming.logs_stream):
                with contextlib.suppress(Exception):
                    await bus.js.delete_stream(stream)
            await bus.close()
    finally:
        await server.stop()
