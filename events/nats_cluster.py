"""A NATS cluster on one machine: N ``nats-server`` nodes on loopback, routed to each other.

Each node is an ``EmbeddedNats`` with ``ClusterOptions`` (own client and route port, own
JetStream store and limits, unique ``server_name``); this module adds the membership, waits
until JetStream is clustered, and stops, kills or restarts one node or all of them. Used by
``deploy/cluster.sh`` (the scale-out topology on one machine) and the chaos tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext, api

from proctor.core.errors import ConfigurationError, EmbeddedNatsError
from proctor.events.bus.jetstream import connect_nats
from proctor.events.nats_server import ClusterOptions, EmbeddedNats, NatsLimits

__all__ = ("NatsCluster", "free_ports")

_FORM_TIMEOUT_S = 30.0
_POLL_S = 0.05
_MAX_REPLICAS = 5  # JetStream's limit for one stream


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _check_ports(given: Sequence[int] | None, size: int, setting: str) -> None:
    if given is not None and (len(given) != size or len(set(given)) != size):
        raise ConfigurationError(
            f"{setting} must list {size} distinct ports, one per node; got {list(given)}",
            setting=setting,
        )


def _all_current(info: api.StreamInfo) -> bool:
    """Whether a stream has a leader and every one of its replicas is online and caught up."""
    cluster = info.cluster
    if cluster is None or cluster.leader is None:
        return False
    peers = cluster.replicas or []
    return len(peers) == (info.config.num_replicas or 1) - 1 and all(
        p.current and not p.offline for p in peers
    )


class NatsCluster:
    """``size`` local nats-server nodes forming one JetStream cluster.

    ``async with NatsCluster(folder) as cluster: cluster.url`` — the URL lists every node, so
    a client fails over by itself. Ports are free ones unless given; they stay the same across
    restarts, so clients reconnect to a restarted node. ``advertise=False`` keeps the nodes
    from telling clients each other's addresses: a client behind a fault proxy stays behind it.
    """

    def __init__(
        self,
        folder: Path,
        *,
        size: int = 3,
        name: str = "proctor",
        client_ports: Sequence[int] | None = None,
        route_ports: Sequence[int] | None = None,
        limits: NatsLimits | None = None,
        advertise: bool = True,
        form_timeout_s: float = _FORM_TIMEOUT_S,
    ) -> None:
        if size < 3:
            raise ConfigurationError(
                f"a NATS cluster needs at least 3 nodes for a JetStream quorum; got size={size}",
                setting="size",
            )
        self.folder = Path(folder)
        self.name = name
        self.form_timeout_s = form_timeout_s
        _check_ports(client_ports, size, "client_ports")
        _check_ports(route_ports, size, "route_ports")
        clients: list[int | None] = [*client_ports] if client_ports else [None] * size
        routes = [*route_ports] if route_ports else free_ports(size)
        self.nodes: tuple[EmbeddedNats, ...] = tuple(
            EmbeddedNats(
                self.folder / f"{name}-{i + 1}",
                port=clients[i],
                limits=limits,
                server_name=f"{name}-{i + 1}",
                cluster=ClusterOptions(
                    name, routes[i], tuple(routes[:i] + routes[i + 1 :]), advertise=advertise
                ),
            )
            for i in range(size)
        )

    @property
    def urls(self) -> tuple[str, ...]:
        """Each node's client URL (also while a node is down: it keeps its port)."""
        if any(node.port is None for node in self.nodes):
            raise EmbeddedNatsError("the NATS cluster has not been started")
        return tuple(f"nats://127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def url(self) -> str:
        """The client URL of the whole cluster: every node's, comma-separated."""
        return ",".join(self.urls)

    @property
    def running(self) -> bool:
        """Whether every node's process is running."""
        return all(node.running for node in self.nodes)

    def node_named(self, server_name: str) -> int:
        """The index of the node called ``server_name`` (as in a stream's ``cluster.leader``)."""
        for index, node in enumerate(self.nodes):
            if node.server_name == server_name:
                return index
        raise ConfigurationError(f"no node named {server_name!r} in cluster {self.name!r}")

    async def start(self) -> str:
        """Start every node that is not running; return the URL once the cluster has formed."""
        results = await asyncio.gather(
            *(asyncio.to_thread(node.start) for node in self.nodes if not node.running),
            return_exceptions=True,
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        try:
            if failure is not None:
                raise failure
            await self.wait_formed()
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def wait_formed(self, timeout_s: float | None = None) -> None:
        """Return once every node is in the JetStream cluster and a meta leader is elected.

        The proof: a stream with one replica per node (up to 5) is placed, has a leader, and
        all its replicas are current. The probe stream is deleted afterwards.
        """
        probe = f"PROCTOR_CLUSTER_PROBE_{uuid.uuid4().hex[:12]}"
        replicas = min(len(self.nodes), _MAX_REPLICAS)

        async def placed_and_current(js: JetStreamContext) -> bool:
            try:
                info = await js.stream_info(probe)
            except nats.js.errors.NotFoundError:
                info = await js.add_stream(
                    name=probe,
                    subjects=[f"_proctor_probe.{probe}"],
                    storage=api.StorageType.MEMORY,
                    num_replicas=replicas,
                )
            return _all_current(info)

        async with self._jetstream(timeout_s) as js:
            try:
                await self._until(js, placed_and_current, "form", timeout_s)
            finally:
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await js.delete_stream(probe)

    async def wait_stream_current(self, stream: str, timeout_s: float | None = None) -> None:
        """Return once ``stream`` has a leader and all its replicas have caught up."""

        async def current(js: JetStreamContext) -> bool:
            return _all_current(await js.stream_info(stream))

        async with self._jetstream(timeout_s) as js:
            await self._until(js, current, f"bring stream {stream!r} current", timeout_s)

    @contextlib.asynccontextmanager
    async def _jetstream(self, timeout_s: float | None) -> AsyncIterator[JetStreamContext]:
        timeout_s = self.form_timeout_s if timeout_s is None else timeout_s
        nc = await connect_nats(self.url, name="proctor-cluster-probe", timeout_s=timeout_s)
        try:
            yield nc.jetstream(timeout=1.0)
        finally:
            await nc.close()

    async def _until(
        self,
        js: JetStreamContext,
        check: Callable[[JetStreamContext], Awaitable[bool]],
        what: str,
        timeout_s: float | None,
    ) -> None:
        """Poll ``check`` (JetStream pushes no signal for these states) until true."""
        timeout_s = self.form_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last = "replicas not current"
        while True:
            self._check_alive()
            try:
                if await check(js):
                    return
            except (nats.errors.Error, TimeoutError) as error:
                last = type(error).__name__
            if loop.time() >= deadline:
                raise EmbeddedNatsError(
                    f"the NATS cluster {self.name!r} did not {what} within {timeout_s:g} s "
                    f"(last: {last}); see the nats-server.log files under {self.folder}"
                )
            await asyncio.sleep(_POLL_S)

    def _check_alive(self) -> None:
        for node in self.nodes:
            if not node.running:
                raise EmbeddedNatsError(
                    f"nats-server {node.server_name} is not running; see {node.log_file}"
                )

    async def stop(self) -> None:
        """Stop every node gracefully (each flushes its store)."""
        await asyncio.gather(*(asyncio.to_thread(node.stop) for node in self.nodes))

    async def kill(self) -> None:
        """Kill every node at once (SIGKILL), as a power cut would."""
        await asyncio.gather(*(asyncio.to_thread(node.kill) for node in self.nodes))

    async def restart(self) -> str:
        """Stop every node gracefully and start the cluster again on the same ports and stores."""
        await self.stop()
        return await self.start()

    async def stop_node(self, index: int) -> None:
        """Stop one node gracefully (it hands over the leaderships it holds)."""
        await asyncio.to_thread(self.nodes[index].stop)

    async def kill_node(self, index: int) -> None:
        """Kill one node (SIGKILL), as a crash would."""
        await asyncio.to_thread(self.nodes[index].kill)

    async def start_node(self, index: int) -> None:
        """Start one stopped node again; return once it has rejoined the cluster."""
        await asyncio.to_thread(self.nodes[index].start)
        await self.wait_formed()

    async def restart_node(self, index: int) -> None:
        """Stop one node gracefully and start it again; return once it has rejoined."""
        await self.stop_node(index)
        await self.start_node(index)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
