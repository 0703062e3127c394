"""The services a Proctor server runs besides the broker, store, recorder and API.

Each is started after the store and stopped before it. ``default_services()`` lists what
``proctor server start`` runs; each entry can also run alone against external NATS and
PostgreSQL for scale-out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from proctor.core.settings import ProctorSettings
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.runtime.store import Store

__all__ = ("Service", "ServiceContext", "ServiceFactory", "default_services", "named_services")


@dataclass(frozen=True)
class ServiceContext:
    """What a service is given: the settings, the connected bus and the open store."""

    settings: ProctorSettings
    bus: JetStreamEventBus
    store: Store


class Service(Protocol):
    """A long-running part of the server."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ServiceFactory = Callable[[ServiceContext], Awaitable[Service]]


def named_services() -> dict[str, ServiceFactory]:
    """The services by the name ``proctor services <name>`` runs each alone, in start order."""
    # (imported here: both import this module)
    from proctor.runtime.automation_service import automation_service
    from proctor.runtime.deployments.runtime import runtime_service

    return {"runtime": runtime_service, "engine": automation_service}


def default_services() -> list[ServiceFactory]:
    """The services ``proctor server start`` runs, in start order."""
    return list(named_services().values())
