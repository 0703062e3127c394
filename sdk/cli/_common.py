"""What every CLI command shares: settings, finding the server, and one-line errors."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from proctor.core.discovery import read_discovery
from proctor.core.errors import ProctorError
from proctor.core.settings import ProctorSettings
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.naming import Naming

P = ParamSpec("P")
T = TypeVar("T")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line that says what went wrong, and exit non-zero."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def run_async(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body (Typer silently ignores ``async def`` commands)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(func(*args, **kwargs))
        except ProctorError as error:
            fail(str(error))
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


async def connect_bus(settings: ProctorSettings) -> JetStreamEventBus:
    """The event bus of the configured server, or of the local one found by discovery."""
    url, namespace = settings.nats_url, settings.namespace
    if url is None:
        info = read_discovery(settings.home)
        if info is None:
            fail(
                f"no Proctor server is running (no live discovery file in {settings.home}): "
                "start one with `proctor server start`, or set PROCTOR_NATS_URL"
            )
        url, namespace = info.nats_url, info.namespace
    return await JetStreamEventBus.connect(url, naming=Naming(namespace), declare=False)


def parse_json_object(text: str, option: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object, or fail naming ``option``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{option}: not valid JSON ({error.msg} at character {error.pos})")
    if not isinstance(value, dict):
        fail(f"{option}: must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def parse_labels(pairs: list[str], option: str) -> dict[str, str]:
    """Parse ``key=value`` pairs, or fail naming ``option`` and the bad pair."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option}: {pair!r} is not of the form key=value")
        labels[key] = value
    return labels
