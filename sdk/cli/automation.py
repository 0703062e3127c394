"""``proctor automation apply | ls | inspect | pause | resume | delete``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from proctor.cli._common import err, fail, out, run_async
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.automations.records import AutomationInfo
    from proctor.runtime.client import ProctorClient

app = typer.Typer(help="Automations: rules as code, applied by name.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
Reference = Annotated[str, typer.Argument(help="The automation's name or id.")]
_COLOURS = {"+": "green", "~": "yellow", "-": "red", "=": "dim"}


def _client() -> ProctorClient:
    from proctor.runtime.client import ProctorClient

    return ProctorClient.from_settings(ProctorSettings())


@app.command()
@run_async
async def apply(
    file: Annotated[Path, typer.Argument(help="A Python file defining Automation objects.")],
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete automations the file no longer defines.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what would change.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create or update the file's automations by name, and print what changed."""
    from proctor.automations.loading import load_automations

    automations = load_automations(file)
    if not automations:
        fail(f"{file} defines no Automation objects (at its top level, or in a list there)")
    async with _client() as client:
        report = await client.automations.apply(automations, prune=prune, dry_run=dry_run)
    if json_output:
        print(report.model_dump_json())
        return
    for line in report.lines():
        out.print(f"[{_COLOURS[line[0]]}]{line}[/]", highlight=False)
    counts = (
        f"{len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deleted)} deleted"
    )
    err.print(f"{'dry run: would be ' if dry_run else ''}{counts}", highlight=False)


def _trigger_summary(info: AutomationInfo) -> str:
    trigger = info.automation.get("trigger", {})
    kind = str(trigger.get("type", "?"))
    if kind == "event":
        names = ", ".join(trigger.get("expect") or ["any event"])
        return f"event: {names}"
    if kind == "cron":
        return f"cron: {trigger.get('cron')} ({trigger.get('timezone')})"
    if kind == "interval":
        return f"every {trigger.get('every')}"
    return f"{kind} of {len(trigger.get('triggers', []))}"


@app.command("ls")
@run_async
async def list_automations(
    owned: Annotated[
        bool, typer.Option("--owned/--no-owned", help="Show deployments' schedules too.")
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """List automations: name, state, trigger, actions."""
    async with _client() as client:
        automations = await client.automations.list(owned=owned)
    if json_output:
        print(json.dumps([a.model_dump(mode="json") for a in automations]))
        return
    if not automations:
        out.print("No automations: define some in a file and `proctor automation apply FILE.py`")
        return
    table = Table("name", "enabled", "trigger", "actions", "owner", box=None)
    for info in automations:
        actions = ", ".join(a["type"] for a in info.automation.get("actions", []))
        table.add_row(
            escape(info.name),
            "yes" if info.enabled else "[yellow]paused[/]",
            escape(_trigger_summary(info)),
            escape(actions),
            escape(info.owner or ""),
        )
    out.print(table)


@app.command()
@run_async
async def inspect(reference: Reference, json_output: JsonOption = False) -> None:
    """Show one automation's definition (secrets masked)."""
    async with _client() as client:
        info = await client.automations.read(reference)
    if json_output:
        print(info.model_dump_json())
        return
    out.print_json(info.model_dump_json())


@app.command()
@run_async
async def pause(
    reference: Reference,
    reason: Annotated[str | None, typer.Option(help="Why (recorded with it).")] = None,
) -> None:
    """Pause an automation: it stops firing until resumed."""
    async with _client() as client:
        info = await client.automations.pause(reference, reason)
    out.print(f"automation {info.name!r} paused", highlight=False)


@app.command()
@run_async
async def resume(reference: Reference) -> None:
    """Resume a paused automation."""
    async with _client() as client:
        info = await client.automations.resume(reference)
    out.print(f"automation {info.name!r} resumed", highlight=False)


@app.command()
@run_async
async def delete(
    reference: Reference,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an automation (its trigger state goes with it)."""
    if not yes and not typer.confirm(f"Delete automation {reference!r}?"):
        raise typer.Exit(1)
    async with _client() as client:
        await client.automations.delete(reference)
    out.print(f"automation {reference!r} deleted", highlight=False)
