"""``proctor services <name>``: one part of the server alone, for scale-out."""

from __future__ import annotations

import logging

import typer

from proctor.cli._common import out, run_async
from proctor.cli.server import ApiHost, ApiPort
from proctor.core.settings import ProctorSettings, mask_url
from proctor.core.tracing_setup import configure_tracing

app = typer.Typer(
    help="Run one part of the server alone, against external NATS (PROCTOR_NATS_URL) and "
    "the store of PROCTOR_DATABASE_URL (PostgreSQL when processes run on several machines).",
    no_args_is_help=True,
)


@app.command("ls")
def list_services() -> None:
    """List the services, one line each."""
    from proctor.runtime.server import SEPARATE_SERVICES

    for name, summary in SEPARATE_SERVICES.items():
        out.print(f"{name:9} {summary}", highlight=False)


async def _serve(name: str, host: str | None = None, port: int | None = None) -> None:
    from proctor.runtime.server import service_server

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    configure_tracing(f"proctor-{name}")
    settings = ProctorSettings()
    server = service_server(name, settings, host=host, port=port)
    await server.start()

    def ready() -> None:
        out.print(f"Proctor service {name} ready", highlight=False)
        if server.api is not None:
            out.print(f"  API and UI: {server.api_url}", highlight=False)
        out.print(f"  NATS: {mask_url(server.nats_url)}", highlight=False)

    await server.serve_until_stopped(ready=ready)
    out.print(f"Proctor service {name} stopped", highlight=False)


@app.command()
@run_async
async def recorder() -> None:
    """Record the event and run-log streams into the store (replicas share the work)."""
    await _serve("recorder")


@app.command()
@run_async
async def api(host: ApiHost = None, port: ApiPort = None) -> None:
    """Serve the HTTP API and the web UI (stateless; no recorder)."""
    await _serve("api", host, port)


@app.command()
@run_async
async def engine() -> None:
    """Run the automation engine: triggers, schedules and their actions."""
    await _serve("engine")


@app.command()
@run_async
async def runtime() -> None:
    """Run deployments and work pools, and the monitor marking crashed and late runs."""
    await _serve("runtime")
