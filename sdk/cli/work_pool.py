"""``proctor work-pool create | ls | inspect | queue | pause | resume | delete`` and
``proctor concurrency-limit set | ls | rm``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from proctor.cli._common import fail, out, run_async
from proctor.core.errors import NotFoundError
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient
    from proctor.runtime.deployments import WorkPool

app = typer.Typer(help="Work pools: their queues, limits and workers.", no_args_is_help=True)
limits = typer.Typer(help="Concurrency limits by tag, across all workers.", no_args_is_help=True)

PoolArgument = Annotated[str, typer.Argument(help="The pool's name.", metavar="POOL")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


def _client() -> ProctorClient:
    from proctor.runtime.client import ProctorClient

    return ProctorClient.from_settings(ProctorSettings())


def _show(pool: WorkPool, json_output: bool) -> None:
    if json_output:
        out.print_json(pool.model_dump_json())
        return
    limit = pool.concurrency_limit or "none"
    out.print(f"[bold]{escape(pool.name)}[/]  {pool.status}  limit {limit}", highlight=False)
    table = Table("Queue", "Priority", "Limit", "Status", "Workers", box=None)
    for q in pool.queues:
        style = {"ready": "green", "not_ready": "red", "paused": "yellow"}[q.status]
        table.add_row(
            escape(q.name),
            str(q.priority),
            str(q.concurrency_limit or "-"),
            f"[{style}]{q.status.replace('_', ' ')}[/]",
            str(q.workers),
        )
    out.print(table)


async def _read(client: ProctorClient, name: str) -> WorkPool:
    try:
        return await client.work_pools.read(name)
    except NotFoundError:
        fail(f"no work pool {name!r}: create it with `proctor work-pool create {name}`")


@app.command()
@run_async
async def create(
    name: PoolArgument,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="A queue as NAME or NAME:PRIORITY (repeat; 1 first)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Most runs of the pool at once.")] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a pool (or replace its settings)."""
    from pydantic import ValidationError

    from proctor.runtime.deployments import WorkPoolSpec
    from proctor.runtime.orchestration import QueueConfig

    queues = []
    for index, text in enumerate(queue or ["default"], start=1):
        queue_name, _, priority = text.partition(":")
        if priority and not priority.isdigit():
            fail(f"--queue: {text!r}: the priority after ':' must be a whole number")
        queues.append({"name": queue_name, "priority": int(priority) if priority else index})
    try:
        spec = WorkPoolSpec(
            name=name,
            concurrency_limit=limit,
            description=description,
            queues=[QueueConfig.model_validate(q) for q in queues],
        )
    except ValidationError as error:
        fail(f"{error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")
    async with _client() as client:
        _show(await client.work_pools.apply(spec), json_output)


@app.command("ls")
@run_async
async def ls(json_output: JsonOption = False) -> None:
    """Pools, with how many of their queues a live worker serves."""
    async with _client() as client:
        pools = await client.work_pools.list()
    if json_output:
        print("[" + ",".join(p.model_dump_json() for p in pools) + "]")
        return
    if not pools:
        out.print("No work pools: create one with `proctor work-pool create NAME`")
        return
    table = Table("Pool", "Status", "Queues", "Workers", "Limit", box=None)
    for pool in pools:
        ready = sum(1 for q in pool.queues if q.ready)
        table.add_row(
            escape(pool.name),
            pool.status.replace("_", " "),
            f"{ready}/{len(pool.queues)} ready",
            str(len(pool.workers)),
            str(pool.concurrency_limit or "-"),
        )
    out.print(table)


@app.command()
@run_async
async def inspect(name: PoolArgument, json_output: JsonOption = False) -> None:
    """A pool's queues (priority, limit, readiness) and live workers."""
    async with _client() as client:
        pool = await _read(client, name)
    _show(pool, json_output)
    if not json_output:
        for worker in pool.workers:
            queues = ", ".join(worker.queues)
            out.print(f"  worker {escape(worker.name)} ({worker.id}): {queues}", highlight=False)


@app.command("queue")
@run_async
async def set_queue(
    name: PoolArgument,
    queue: Annotated[str, typer.Argument(help="The queue's name.")],
    priority: Annotated[int, typer.Option(min=1, help="Lower is served first.")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Most runs at once.")] = None,
    paused: Annotated[bool, typer.Option("--paused/--active", help="Pause the queue.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Add a queue to a pool, or change it."""
    async with _client() as client:
        await _read(client, name)
        pool = await client.work_pools.set_queue(
            name, queue, priority=priority, concurrency_limit=limit, paused=paused
        )
    _show(pool, json_output)


@app.command()
@run_async
async def pause(name: PoolArgument) -> None:
    """Pause a pool: its workers claim nothing until it is resumed."""
    async with _client() as client:
        await _read(client, name)
        _show(await client.work_pools.update(name, paused=True), False)


@app.command()
@run_async
async def resume(name: PoolArgument) -> None:
    """Resume a paused pool."""
    async with _client() as client:
        await _read(client, name)
        _show(await client.work_pools.update(name, paused=False), False)


@app.command()
@run_async
async def delete(name: PoolArgument) -> None:
    """Delete a pool (queued runs stay queued until a pool of that name exists again)."""
    async with _client() as client:
        await _read(client, name)
        await client.work_pools.delete(name)
    out.print(f"Work pool {escape(name)} deleted", highlight=False)


@limits.command("set")
@run_async
async def set_limit(
    tag: Annotated[str, typer.Argument(help="The tag.")],
    limit: Annotated[int, typer.Argument(min=0, help="Most runs with the tag at once.")],
) -> None:
    """Allow at most LIMIT runs tagged TAG to execute at once, across every worker."""
    async with _client() as client:
        result = await client.concurrency_limits.set_tag_limit(tag, limit)
    out.print(f"tag {escape(result.tag)}: at most {result.limit} at once", highlight=False)


@limits.command("ls")
@run_async
async def list_limits(json_output: JsonOption = False) -> None:
    """Tag limits and how many runs hold a slot now."""
    async with _client() as client:
        found = await client.concurrency_limits.list()
    if json_output:
        print("[" + ",".join(limit.model_dump_json() for limit in found) + "]")
        return
    if not found:
        out.print("No tag limits: set one with `proctor concurrency-limit set TAG LIMIT`")
        return
    table = Table("Tag", "Limit", "Running", box=None)
    for limit in found:
        table.add_row(escape(limit.tag), str(limit.limit), str(limit.active))
    out.print(table)


@limits.command("rm")
@run_async
async def remove_limit(tag: Annotated[str, typer.Argument(help="The tag.")]) -> None:
    """Remove a tag's limit."""
    async with _client() as client:
        try:
            await client.concurrency_limits.delete_tag_limit(tag)
        except NotFoundError:
            fail(f"tag {tag!r} has no concurrency limit")
    out.print(f"tag {escape(tag)}: no limit", highlight=False)
