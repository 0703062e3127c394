"""A real local server for the CLI tests (NATS, store, recorder, API, runtime), and the CLI
run in a thread against it, as a user's terminal would."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from proctor.cli.main import app
from tests.server.conftest import server

__all__ = ("one_line_error", "proctor", "server")

runner = CliRunner()


async def proctor(*args: str, stdin: str | None = None) -> Result:
    """``proctor ARGS`` in a thread (it runs its own event loop) while the server serves on
    this one."""
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), input=stdin))


def one_line_error(result: Result, message: str, code: int = 1) -> None:
    """The command failed with ``code``, saying ``message`` in one line, no traceback."""
    assert result.exit_code == code, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
