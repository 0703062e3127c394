"""The API application: ``create_app(services)`` wires routes to the server's services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from proctor.core.settings import ProctorSettings
from proctor.events.bus.base import EventBus
from proctor.events.model import utcnow
from proctor.runtime.api.auth import Scope, TokenStore, authorize
from proctor.runtime.api.automations import automations_router
from proctor.runtime.api.deployments import deployments_router
from proctor.runtime.api.errors import BodySizeLimit, error_response, install_error_handlers
from proctor.runtime.api.events import events_router
from proctor.runtime.api.flow_runs import runs_router
from proctor.runtime.api.hooks import HooksFirstApp, WebhookEndpoint, document_hooks
from proctor.runtime.api.run_commands import run_commands_router
from proctor.runtime.api.webhooks import webhooks_router
from proctor.runtime.api.work_pools import concurrency_router, work_pools_router
from proctor.runtime.automation_service.registry import AutomationRegistry
from proctor.runtime.deployments import LazyRuntime
from proctor.runtime.metrics import CONTENT_TYPE, exposition, read_shared_state
from proctor.runtime.orchestration.model import WorkerBeat
from proctor.runtime.store import Store
from proctor.runtime.ui import mount_ui
from proctor.runtime.webhooks.receiver import DEFAULT_PUBLISH_TIMEOUT_S, WebhookReceiver
from proctor.runtime.webhooks.registry import WebhookRegistry
from proctor.runtime.webhooks.replay import InMemoryReplayGuard, ReplayGuard

__all__ = ("MAX_REQUEST_BYTES", "ApiServices", "create_app")

MAX_REQUEST_BYTES = 1024 * 1024


@dataclass
class ApiServices:
    """What the routes need. The server builds it; tests can build one with in-memory parts."""

    settings: ProctorSettings
    bus: EventBus
    store: Store
    tokens: TokenStore
    readiness: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)
    replay_guard: ReplayGuard = field(default_factory=InMemoryReplayGuard)
    """Remembers webhook delivery ids; the server's is durable and shared (NATS KV)."""
    broker_connected: Callable[[], bool] = field(default=lambda: True)
    """Whether the bus is connected now (webhooks answer 503 at once when it is not)."""
    webhook_publish_timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S


def _scope_for(request: Request) -> Scope:
    if request.url.path.startswith("/api/tokens"):
        return Scope.ADMIN
    return Scope.READ if request.method in ("GET", "HEAD", "OPTIONS") else Scope.WRITE


def create_app(services: ApiServices) -> FastAPI:
    """The FastAPI app: OpenAPI at /docs, JSON errors, bearer auth when configured."""
    app = HooksFirstApp(
        title="Proctor API",
        version="0.1.0",
        description="Runs, events, deployments, automations and webhooks of a Proctor server.",
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES)
    check = authorize(services.settings, services.tokens)

    async def require_scope(request: Request) -> None:
        await check(request, _scope_for(request))

    @app.get("/health", tags=["server"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["server"], summary="Every service answers", response_model=None)
    async def ready() -> dict[str, object] | JSONResponse:
        results = {name: await probe() for name, probe in services.readiness.items()}
        if all(results.values()):
            return {"status": "ready", "checks": results}
        failing = ", ".join(name for name, ok in results.items() if not ok)
        return error_response(503, f"not ready: {failing}")

    runtime = LazyRuntime(services.bus, services.store)  # deployments, pools, run commands

    async def worker_beats() -> list[WorkerBeat]:
        return await (await runtime.get()).plane.worker_beats()

    @app.get(
        "/metrics",
        tags=["server"],
        summary="Prometheus metrics (text exposition format)",
        dependencies=[Depends(require_scope)],
        response_class=Response,
    )
    async def metrics() -> Response:
        runs = services.store.runs.count_flow_runs_by_state
        state = await read_shared_state(services.bus, runs, worker_beats, utcnow())
        return Response(exposition(state), media_type=CONTENT_TYPE)

    registry = WebhookRegistry(services.store)
    receiver = WebhookReceiver(
        services.bus,
        registry,
        services.replay_guard,
        publish_timeout_s=services.webhook_publish_timeout_s,
        connected=services.broker_connected,
    )
    app.state.webhook_receiver = receiver
    # POST /hooks/{slug}: signed by the sender (no bearer token), plain ASGI for speed
    app.hooks = WebhookEndpoint(receiver)
    document_hooks(app)

    routers = [
        events_router(services.bus, services.store),
        runs_router(services.store),
        webhooks_router(registry, services.store),
        automations_router(AutomationRegistry(services.store, services.bus)),
        *(make(runtime) for make in (deployments_router, work_pools_router, concurrency_router)),
        run_commands_router(runtime),
    ]
    for router in routers:  # into the app at once: FastAPI rebuilds a route at each include
        app.include_router(router, prefix="/api", dependencies=[Depends(require_scope)])
    mount_ui(app)  # the web UI at / (loads without a token; its API calls carry one)
    return app
