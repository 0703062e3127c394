"""The ``proctor`` command: one grammar, ``proctor <noun> <verb>``."""

from __future__ import annotations

import typer

from proctor.cli import (
    automation,
    config,
    deploy,
    deployment,
    events,
    run,
    server,
    services,
    tokens,
    webhooks,
    work_pool,
    worker,
)

app = typer.Typer(
    name="proctor",
    help="Proctor: event-driven automation for Python.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(server.app, name="server")
app.add_typer(services.app, name="services")
app.add_typer(events.app, name="events")
app.add_typer(run.app, name="run")
app.add_typer(config.app, name="config")
app.add_typer(tokens.app, name="token")
app.add_typer(webhooks.app, name="webhook")
app.add_typer(worker.app, name="worker")
app.command("deploy")(deploy.deploy)
app.add_typer(deployment.app, name="deployment")
app.add_typer(work_pool.app, name="work-pool")
app.add_typer(work_pool.limits, name="concurrency-limit")
app.add_typer(automation.app, name="automation")


def main() -> None:
    app()
