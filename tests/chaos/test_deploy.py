"""deploy/cluster.sh: one command starts a NATS cluster with replicated streams; Ctrl-C ends it."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from proctor.events.bus import JetStreamEventBus
from proctor.events.naming import Naming
from proctor.events.nats_server import find_nats_server
from tests.chaos.load import make_events

pytestmark = pytest.mark.nats

SCRIPT = Path(__file__).parents[2] / "deploy" / "cluster.sh"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_cluster_script_serves_replicated_streams_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        url = ""
        while not url:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "the script ended before printing the URL"
            if line.startswith("export PROCTOR_NATS_URL="):
                url = line.strip().split("=", 1)[1]
        bus = await JetStreamEventBus.connect(url, naming=Naming(), declare=False)
        try:
            await bus.publish(make_events(1)[0])
            info = await bus.js.stream_info(bus.naming.events_stream)
            assert info.config.num_replicas == 3
            assert (await bus.stats()).messages == 1
        finally:
            await bus.close()
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    ports = [int(one.rsplit(":", 1)[1]) for one in url.split(",")]
    assert len(ports) == 3
    assert not any(listening(port) for port in ports)


def test_the_example_node_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_SERVER_NAME", "nats-1")
    config = SCRIPT.parent / "nats" / "nats.conf"
    checked = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(config)], capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stderr.decode()
