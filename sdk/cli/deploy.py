"""``proctor deploy path/file.py:flow --name NAME --pool POOL [--cron ... | --interval ...]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proctor.cli._common import fail, out, parse_json_object, run_async
from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.runtime.deployments import Deployment

__all__ = ("deploy", "parse_params")


def parse_params(pairs: list[str], as_json: str | None) -> dict[str, Any]:
    """``--params '{...}'`` then ``--param k=v`` (a value is JSON when it parses, else text)."""
    parameters = parse_json_object(as_json, "--params") if as_json else {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            fail(f"--param: {pair!r} is not of the form name=value")
        try:
            parameters[key] = json.loads(text)
        except json.JSONDecodeError:
            parameters[key] = text
    return parameters


def describe(deployment: Deployment) -> str:
    where = (
        f"pool {deployment.work_pool!r}"
        + (f", queue {deployment.work_queue!r}" if deployment.work_queue else "")
        if deployment.work_pool
        else "served by its own process"
    )
    return f"{deployment.full_name} ({deployment.id}) on {where}"


@run_async
async def deploy(
    entrypoint: Annotated[
        str, typer.Argument(help="path/file.py:flow_function or package.module:flow_function")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="The deployment's name.")],
    pool: Annotated[str, typer.Option("--pool", "-p", help="Work pool whose workers run it.")],
    queue: Annotated[str | None, typer.Option(help="Queue in the pool (default).")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule, e.g. '0 9 * * 1-5'.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of --cron.")] = "UTC",
    interval: Annotated[
        float | None, typer.Option(min=0.001, help="Run every this many seconds.")
    ] = None,
    catch_up: Annotated[
        str | None, typer.Option(help="Slots missed while nothing ran: skip, once or all.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Default parameter name=value (repeat).")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Default parameters as JSON.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat).")] = None,
    concurrency_limit: Annotated[
        int | None, typer.Option(min=1, help="Most runs of it executing at once.")
    ] = None,
    collision_strategy: Annotated[
        str, typer.Option(help="At the limit: enqueue (wait) or cancel-new.")
    ] = "enqueue",
    paused: Annotated[bool, typer.Option(help="Create it paused (no scheduled runs).")] = False,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the deployment as JSON.")
    ] = False,
) -> None:
    """Create or update a deployment: a flow, where it runs, with what, and when."""
    from proctor.runtime.client import ProctorClient
    from proctor.runtime.deployments.python_api import DeployOptions, deployment_spec
    from proctor.runtime.worker.entrypoints import load_flow

    if collision_strategy not in ("enqueue", "cancel-new"):
        fail(f"--collision-strategy: {collision_strategy!r} is not enqueue or cancel-new")
    if catch_up is not None and catch_up not in ("skip", "once", "all"):
        fail(f"--catch-up: {catch_up!r} is not skip, once or all")
    working_dir = Path.cwd()
    try:
        flow = load_flow(entrypoint, working_dir)
    except ConfigurationError as error:
        fail(str(error))
    options: DeployOptions = {
        "work_pool": pool,
        "work_queue": queue,
        "parameters": parse_params(param or [], params),
        "tags": tag or [],
        "cron": cron,
        "timezone": timezone,
        "interval": interval,
        "catch_up": {"policy": catch_up} if catch_up else None,
        "concurrency_limit": concurrency_limit,
        "collision_strategy": collision_strategy,
        "paused": paused,
        "entrypoint": entrypoint,
        "working_dir": working_dir,
    }
    if description is not None:
        options["description"] = description
    try:
        spec = deployment_spec(flow, name, options)
    except ValueError as error:  # pydantic's ValidationError and ConfigurationError
        fail(str(error).replace("\n", " "))
    async with ProctorClient.from_settings(ProctorSettings()) as client:
        deployment = await client.deployments.apply(spec)
    if json_output:
        out.print_json(deployment.model_dump_json())
        return
    out.print(f"Deployment {describe(deployment)} saved.", highlight=False)
    if deployment.schedules:
        out.print(f"  schedules: {len(deployment.schedules)}", highlight=False)
    if deployment.status != "ready":
        out.print(f"  no worker serves it yet: proctor worker start --pool {pool}", highlight=False)
    out.print(f"  run it: proctor deployment run {deployment.full_name}", highlight=False)
