"""``proctor server start``: one process running the broker and every Proctor service; and
``proctor services <name>``: the same composition with one part only (``service_server``).

Start order: NATS (embedded unless ``PROCTOR_NATS_URL``) → streams → store (migrated) →
recorders → services (runtime/services.py) → API. Stop order is the reverse, so nothing is
left half-written: the API stops taking requests first, the recorders finish their batch last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from proctor.core.discovery import ServerInfo, read_discovery, remove_discovery, write_discovery
from proctor.core.errors import ConfigurationError
from proctor.core.gc_tuning import release_loaded
from proctor.core.settings import ProctorSettings, mask_url
from proctor.events.bus.base import EventStreamConfig
from proctor.events.bus.jetstream import JetStreamEventBus, ensure_logs_stream
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.api.app import ApiServices, create_app
from proctor.runtime.api.auth import check_bind_allowed
from proctor.runtime.api.serve import ApiServer
from proctor.runtime.api.tokens import StoreTokens
from proctor.runtime.recorder import Recorder
from proctor.runtime.services import (
    Service,
    ServiceContext,
    ServiceFactory,
    default_services,
    named_services,
)
from proctor.runtime.store import Store
from proctor.runtime.webhooks.replay_kv import JetStreamReplayGuard

__all__ = ("SEPARATE_SERVICES", "LocalServer", "service_server")

log = logging.getLogger(__name__)

SEPARATE_SERVICES: dict[str, str] = {
    "recorder": "records the event and run-log streams into the store (replicas share the work)",
    "api": "the HTTP API and the web UI, stateless (no recorder)",
    "engine": "the automation engine: triggers, schedules and their actions",
    "runtime": "deployments and work pools, and the monitor marking crashed and late runs",
}
"""What ``proctor services <name>`` can run alone, with one line each."""


class LocalServer:
    """Everything ``proctor server start`` runs, in one process (``recorder=False``,
    ``api=False`` and ``services`` leave parts out)."""

    def __init__(
        self,
        settings: ProctorSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        nats_port: int | None = None,
        stream: EventStreamConfig | None = None,
        services: Sequence[ServiceFactory] | None = None,
        recorder: bool = True,
        api: bool = True,
    ) -> None:
        self.settings = settings
        self.host = host if host is not None else settings.api_host
        self.port = port if port is not None else settings.api_port
        self.nats_port = nats_port
        self.stream = stream or EventStreamConfig(
            max_age=timedelta(days=settings.stream_max_age_days),
            replicas=settings.stream_replicas,
        )
        self.naming = Naming(settings.namespace)
        self._factories = list(default_services() if services is None else services)
        self._with_recorder = recorder
        self._with_api = api
        self.embedded: EmbeddedNats | None = None
        self.bus: JetStreamEventBus | None = None
        self.store: Store | None = None
        self.recorders: list[Recorder] = []
        self.services: list[Service] = []
        self.api: ApiServer | None = None
        self.nats_url = ""

    @property
    def api_url(self) -> str:
        assert self.api is not None, "the server is not started"
        return self.api.url

    async def start(self) -> None:
        """Start everything; on any failure, stop what was started and re-raise."""
        if self._with_api:
            check_bind_allowed(self.settings, self.host)
        if self.settings.nats_url is None:
            _check_home_free(self.settings.home)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        url = self.settings.nats_url
        if url is None:
            self.embedded = EmbeddedNats(
                Path(self.settings.home) / "nats", port=self.nats_port, own_process_group=True
            )
            url = await asyncio.to_thread(self.embedded.start)
        self.nats_url = url
        self.bus = await JetStreamEventBus.connect(url, naming=self.naming, stream=self.stream)
        await ensure_logs_stream(self.bus.js, self.naming, self.stream)
        self.store = await Store.from_settings(self.settings)
        if self._with_recorder:
            self.recorders = [
                await Recorder.open(self.bus, self.store),
                await Recorder.open_logs(self.bus, self.store),
            ]
            for recorder in self.recorders:
                await recorder.start()
        context = ServiceContext(self.settings, self.bus, self.store)
        for factory in self._factories:
            service = await factory(context)
            await service.start()
            self.services.append(service)
        if self._with_api:
            await self._start_api(url)
        log.info("NATS at %s, API at %s", mask_url(url), self.api.url if self.api else "-")

    async def _start_api(self, url: str) -> None:
        assert self.bus is not None
        assert self.store is not None
        bus = self.bus
        guard = await JetStreamReplayGuard.open(
            bus.nc, bus.js, self.naming, replicas=self.stream.replicas
        )
        api = ApiServices(
            settings=self.settings,
            bus=bus,
            store=self.store,
            tokens=StoreTokens(self.store),
            readiness={"nats": self._nats_ready, "store": self._store_ready},
            replay_guard=guard,
            broker_connected=lambda: bus.nc.is_connected,
        )
        self.api = ApiServer(create_app(api), self.host, self.port)
        await self.api.start()
        write_discovery(
            self.settings.home,
            ServerInfo(
                pid=os.getpid(),
                nats_url=url,
                namespace=self.settings.namespace,
                api_url=self.api.url,
            ),
        )

    async def _nats_ready(self) -> bool:
        return self.bus is not None and self.bus.nc.is_connected

    async def _store_ready(self) -> bool:
        if self.store is None:
            return False
        try:
            await self.store.ping()
        except Exception:
            return False
        return True

    async def stop(self) -> None:
        """Stop in reverse order; safe to call twice and after a failed start."""
        remove_discovery(self.settings.home, os.getpid())
        if self.api is not None:
            await self.api.stop()
            self.api = None
        for service in reversed(self.services):
            await _quietly(service.stop(), f"service {service.name}")
        self.services = []
        for recorder in self.recorders:
            await _quietly(recorder.stop(), "recorder")
        self.recorders = []
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None

    async def serve_until_stopped(
        self, stop: asyncio.Event | None = None, *, ready: Callable[[], None] | None = None
    ) -> None:
        """Run until SIGINT/SIGTERM, or SIGHUP (the terminal closed) unless ignored (``nohup``),
        or ``stop`` is set; then shut down cleanly. ``ready`` is called once the signals are
        handled (say "ready" there: a signal sent on seeing it then stops the server cleanly)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            signals.append(signal.SIGHUP)  # else it kills us without stopping nats-server
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        # What is loaded by now (modules, schemas, the app) lives as long as the process;
        # frozen, it is left out of the full collections, which otherwise took 70-300 ms under
        # load (every request waiting behind them) and now take a few. (`proctor server start`
        # held collections off while loading: see hold_until_loaded.)
        release_loaded()
        try:
            if ready is not None:
                ready()
            await stop.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            await self.stop()


def service_server(
    name: str, settings: ProctorSettings, *, host: str | None = None, port: int | None = None
) -> LocalServer:
    """A ``LocalServer`` running the one service ``name`` of ``SEPARATE_SERVICES``, against
    the external NATS of ``PROCTOR_NATS_URL`` and the store of ``PROCTOR_DATABASE_URL``."""
    if name not in SEPARATE_SERVICES:
        raise ConfigurationError(
            f"unknown service {name!r}: choose from {', '.join(SEPARATE_SERVICES)}"
        )
    if settings.nats_url is None:
        raise ConfigurationError(
            "services run against an external NATS: set PROCTOR_NATS_URL "
            "(nats://host:4222; a cluster's URLs comma-separated), "
            "or run everything in one process with `proctor server start`",
            setting="PROCTOR_NATS_URL",
        )
    factory = named_services().get(name)
    return LocalServer(
        settings,
        host=host,
        port=port,
        services=[factory] if factory is not None else [],
        recorder=name == "recorder",
        api=name == "api",
    )


def _check_home_free(home: Path) -> None:
    """Refuse a home whose embedded NATS store another live server already uses."""
    running = read_discovery(home)
    if running is not None and running.pid != os.getpid():
        raise ConfigurationError(
            f"a Proctor server is already running for {home} (pid {running.pid}): "
            "stop it first, or set PROCTOR_HOME to another folder",
            setting="PROCTOR_HOME",
        )


async def _quietly(stopping: Awaitable[None], what: str) -> None:
    """Await a stop, logging (not raising) its failure so the rest still stops."""
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await stopping
        except Exception:
            log.exception("stopping %s failed", what)
