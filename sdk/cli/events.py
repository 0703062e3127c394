"""``proctor events emit | stream``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from proctor.cli._common import connect_bus, fail, out, parse_json_object, parse_labels, run_async
from proctor.core.errors import EventError
from proctor.core.settings import ProctorSettings
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event

app = typer.Typer(help="Emit events and watch them live.", no_args_is_help=True)


def _line(event: Event) -> str:
    when = event.occurred.strftime("%H:%M:%S.%f")[:-3]
    return (
        f"{when}  {event.event}  {event.resource.id}  {event.model_dump_json(include={'payload'})}"
    )


@app.command()
@run_async
async def emit(
    name: Annotated[str, typer.Argument(help="Event name, e.g. shop.order.created")],
    resource_id: Annotated[str, typer.Option("--resource-id", help="proctor.resource.id")],
    payload: Annotated[str, typer.Option(help="Payload as a JSON object")] = "{}",
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Extra resource label key=value")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the event as JSON")] = False,
) -> None:
    """Publish one event and wait until JetStream has stored it."""
    resource = {ID_LABEL: resource_id, **parse_labels(label or [], "--label")}
    try:
        event = Event.build(name, resource, payload=parse_json_object(payload, "--payload"))
    except EventError as error:
        fail(str(error))
    bus = await connect_bus(ProctorSettings())
    try:
        receipt = await bus.publish(event)
    finally:
        await bus.close()
    if json_output:
        out.print_json(event.model_dump_json())
    else:
        out.print(f"emitted {event.event} {event.id} (stream sequence {receipt.sequence})")


@app.command()
@run_async
async def stream(
    filters: Annotated[
        list[str] | None, typer.Argument(help="Name filters: a.b, a.*, a.>, a.Fail* (all: none)")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON event per line")] = False,
    replay: Annotated[
        bool, typer.Option("--all", help="Start from the first stored event")
    ] = False,
) -> None:
    """Print events live as they are stored, one line each, until Ctrl-C."""
    bus = await connect_bus(ProctorSettings())
    try:
        try:
            subscription = await bus.subscribe(*(filters or []), start="all" if replay else "new")
        except EventError as error:
            fail(str(error))
        async for event in subscription:
            if json_output:
                print(event.model_dump_json(), flush=True)
            else:
                out.print(_line(event), highlight=False, markup=False)
    finally:
        await bus.close()


@app.command()
def catalogue(
    asyncapi: Annotated[
        bool, typer.Option("--asyncapi", help="Print the AsyncAPI document (JSON)")
    ] = False,
) -> None:
    """List the events Proctor itself publishes (or their AsyncAPI document)."""
    from proctor.catalogue import BUILTIN_EVENTS
    from proctor.catalogue import asyncapi as document

    if asyncapi:
        print(json.dumps(document(), indent=2))
        return
    for entry in BUILTIN_EVENTS:
        out.print(f"{entry.name:38} {entry.description}", highlight=False, markup=False)
