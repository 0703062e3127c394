"""``proctor server start``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from proctor.cli._common import out, run_async
from proctor.core.gc_tuning import hold_until_loaded
from proctor.core.settings import ProctorSettings, mask_url
from proctor.core.tracing_setup import configure_tracing

app = typer.Typer(help="Run the Proctor server.", no_args_is_help=True)

ApiHost = Annotated[
    str | None, typer.Option("--host", help="Interface of the API (default PROCTOR_API_HOST).")
]
ApiPort = Annotated[
    int | None, typer.Option("--port", help="Port of the API (default PROCTOR_API_PORT; 0: free).")
]


@app.command()
@run_async
async def start(
    host: ApiHost = None,
    port: ApiPort = None,
    nats_port: Annotated[
        int | None, typer.Option(help="Port of the embedded NATS server (default: a free one).")
    ] = None,
) -> None:
    """Start the server: NATS (embedded unless PROCTOR_NATS_URL), store, recorder, API."""
    hold_until_loaded()  # released once ready (LocalServer.serve_until_stopped)
    from proctor.runtime.server import LocalServer

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    configure_tracing("proctor-server")
    settings = ProctorSettings()
    server = LocalServer(settings, host=host, port=port, nats_port=nats_port)
    await server.start()

    def ready() -> None:
        kind = "embedded" if server.embedded is not None else "external"
        out.print(f"Proctor server ready (home {settings.home})", highlight=False)
        out.print(
            f"  API and UI: {server.api_url}   (OpenAPI: {server.api_url}/docs)", highlight=False
        )
        out.print(f"  NATS ({kind}): {mask_url(server.nats_url)}", highlight=False)
        out.print("  watch events: proctor events stream", highlight=False)

    await server.serve_until_stopped(ready=ready)
    out.print("Proctor server stopped", highlight=False)
