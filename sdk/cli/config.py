"""``proctor config show``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from proctor.cli._common import out
from proctor.core.settings import ProctorSettings

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command()
def show(
    json_output: Annotated[bool, typer.Option("--json", help="Print as a JSON object")] = False,
) -> None:
    """Print the effective settings, with secrets masked."""
    values = ProctorSettings().displayable()
    if json_output:
        print(json.dumps(values))
        return
    for key, value in values.items():
        out.print(f"{key}={'' if value is None else value}", highlight=False, markup=False)
