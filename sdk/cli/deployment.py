"""``proctor deployment ls | inspect | run | pause | resume | delete``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from proctor.cli._common import fail, out, run_async
from proctor.cli.deploy import describe, parse_params
from proctor.cli.run import EXIT_FAILED, follow_run
from proctor.core.errors import NotFoundError
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient
    from proctor.runtime.deployments import Deployment

app = typer.Typer(help="List, run, pause and resume deployments.", no_args_is_help=True)

NameArgument = Annotated[
    str, typer.Argument(help="flow-name/deployment-name, or the id.", metavar="DEPLOYMENT")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


def _client() -> ProctorClient:
    from proctor.runtime.client import ProctorClient

    return ProctorClient.from_settings(ProctorSettings())


async def _read(client: ProctorClient, name: str) -> Deployment:
    try:
        return await client.deployments.read(name)
    except NotFoundError:
        fail(f"no deployment {name!r}: list them with `proctor deployment ls`")
    except ValueError as error:
        fail(str(error))


def _schedules(deployment: Deployment) -> str:
    parts = []
    for schedule in deployment.schedules:
        data = schedule.model_dump()
        text = (
            f"{data['cron']} ({data['timezone']})"
            if "cron" in data
            else f"every {data['interval_s']:g}s"
        )
        parts.append(text if data["active"] else f"{text} [inactive]")
    return ", ".join(parts) or "-"


@app.command("ls")
@run_async
async def ls(
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow's.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Deployments, by flow then name, with where they run and whether a worker serves them."""
    async with _client() as client:
        deployments = await client.deployments.list(flow_name=flow)
    if json_output:
        print("[" + ",".join(d.model_dump_json() for d in deployments) + "]")
        return
    if not deployments:
        out.print("No deployments: create one with `proctor deploy path/file.py:flow ...`")
        return
    table = Table("Deployment", "Pool / queue", "Schedules", "Status", box=None)
    for d in deployments:
        where = f"{d.work_pool}/{d.work_queue or 'default'}" if d.work_pool else "(served)"
        status = "paused" if d.paused else d.status.replace("_", " ")
        style = "yellow" if d.paused else "green" if d.status == "ready" else "red"
        table.add_row(
            escape(d.full_name), escape(where), escape(_schedules(d)), f"[{style}]{status}[/]"
        )
    out.print(table)


@app.command()
@run_async
async def inspect(name: NameArgument, json_output: JsonOption = False) -> None:
    """One deployment, in full."""
    async with _client() as client:
        deployment = await _read(client, name)
    if json_output:
        out.print_json(deployment.model_dump_json())
        return
    out.print(f"[bold]{escape(deployment.full_name)}[/]  {deployment.id}")
    rows = {
        "entrypoint": deployment.entrypoint,
        "pool / queue": f"{deployment.work_pool or '(served)'} / "
        f"{deployment.work_queue or 'default'}",
        "status": "paused" if deployment.paused else deployment.status,
        "schedules": _schedules(deployment),
        "parameters": str(deployment.parameters),
        "tags": ", ".join(deployment.tags) or "-",
        "concurrency": f"{deployment.concurrency_limit} ({deployment.collision_strategy})"
        if deployment.concurrency_limit
        else "-",
    }
    for key, value in rows.items():
        out.print(f"  {key:<13} {escape(value)}", highlight=False)


@app.command()
@run_async
async def run(
    name: NameArgument,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Parameter name=value (repeat).")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Parameters as JSON.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="An extra tag (repeat).")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="The same key gives the same run, created once.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the run; exit 0 if it completed, 1 if not.")
    ] = False,
    timeout_s: Annotated[
        float | None, typer.Option("--timeout", min=0, help="With --watch: give up (exit 124).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Request a run of a deployment (Scheduled at once; a worker of its pool starts it)."""
    parameters = parse_params(param or [], params)
    async with _client() as client:
        deployment = await _read(client, name)
        status = await client.deployments.run(
            deployment.id, parameters, tags=tag or [], idempotency_key=idempotency_key
        )
        if json_output:
            print(status.model_dump_json(), flush=True)
        else:
            made = "requested" if status.created else "already requested (same key)"
            out.print(
                f"Run {escape(status.name)} ({status.flow_run_id}) of "
                f"{escape(deployment.full_name)} {made}: {status.state.name}",
                highlight=False,
            )
        if not watch:
            return
        final = await follow_run(client, status.flow_run_id, json_output, timeout_s)
    if final != "Completed":
        raise typer.Exit(EXIT_FAILED)


async def _set_paused(name: str, paused: bool, json_output: bool) -> None:
    async with _client() as client:
        deployment = await _read(client, name)
        changed = await (
            client.deployments.pause(deployment.id)
            if paused
            else client.deployments.resume(deployment.id)
        )
    if json_output:
        out.print_json(changed.model_dump_json())
    else:
        word = "paused: its schedules stop" if paused else "resumed: its schedules run"
        out.print(f"Deployment {escape(describe(changed))} {word}", highlight=False)


@app.command()
@run_async
async def pause(name: NameArgument, json_output: JsonOption = False) -> None:
    """Pause a deployment: its schedules create no runs until it is resumed."""
    await _set_paused(name, True, json_output)


@app.command()
@run_async
async def resume(name: NameArgument, json_output: JsonOption = False) -> None:
    """Resume a paused deployment."""
    await _set_paused(name, False, json_output)


@app.command()
@run_async
async def delete(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a deployment (its runs stay)."""
    async with _client() as client:
        deployment = await _read(client, name)
        if not yes:
            confirmed = await asyncio.to_thread(
                typer.confirm, f"Delete deployment {deployment.full_name}?"
            )
            if not confirmed:
                raise typer.Exit(1)
        await client.deployments.delete(deployment.id)
    out.print(f"Deployment {escape(deployment.full_name)} deleted", highlight=False)
