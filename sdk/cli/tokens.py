"""``proctor token create``."""

from __future__ import annotations

from typing import Annotated

import typer

from proctor.cli._common import err, fail, out, run_async
from proctor.core.settings import ProctorSettings

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


@app.command()
@run_async
async def create(
    name: Annotated[str, typer.Argument(help="A name to recognise the token by.")],
    scope: Annotated[
        str, typer.Option(help="read (GET only), write (changes) or admin (tokens too).")
    ] = "read",
) -> None:
    """Create a token in the store and print it once (only its hash is kept)."""
    from proctor.runtime.api.auth import Scope
    from proctor.runtime.api.tokens import create_token
    from proctor.runtime.store import Store

    try:
        wanted = Scope(scope)
    except ValueError:
        fail(f"--scope: {scope!r} is not one of read, write, admin")
    async with await Store.from_settings(ProctorSettings()) as store:
        token = await create_token(store, name, wanted)
    out.print(token, highlight=False, markup=False)
    err.print(
        f"token {name!r} ({wanted}) created: it is shown once. Send it as "
        "'Authorization: Bearer <token>', or set PROCTOR_API_KEY.",
        highlight=False,
        markup=False,
    )
