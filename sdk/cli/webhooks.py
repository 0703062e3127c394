"""``proctor webhook create | ls | inspect | rotate-secret | delete``."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from proctor.cli._common import err, fail, out, run_async
from proctor.core.settings import ProctorSettings

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient
    from proctor.runtime.webhooks import WebhookCreated, WebhookInfo

app = typer.Typer(help="Manage inbound webhooks (POST /hooks/<slug>).", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
SecretFromEnv = Annotated[
    str | None,
    typer.Option(
        "--secret-from-env",
        metavar="VAR",
        help="Take the secret from this environment variable (default: generate one).",
    ),
]
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _client() -> ProctorClient:
    from proctor.runtime.client import ProctorClient

    return ProctorClient.from_settings(ProctorSettings())


def _secret_from_env(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        fail(f"--secret-from-env: the environment variable {variable} is not set or empty")
    return value


def _template(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = json.loads(path.read_text())
    except OSError as error:
        fail(f"--template: cannot read {path} ({error.strerror})")
    except json.JSONDecodeError as error:
        fail(f"--template: {path} is not valid JSON ({error.msg} at line {error.lineno})")
    if not isinstance(value, dict):
        fail(f"--template: {path} must hold a JSON object with event/resource/payload keys")
    return value


def _duration(text: str, option: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        fail(f"{option}: {text!r} is not a duration like 3600, 90m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _print_created(created: WebhookCreated, base_url: str, json_output: bool, verb: str) -> None:
    info = created.webhook
    if json_output:
        print(created.model_dump_json())
        return
    out.print(f"webhook {info.slug} {verb} (preset {info.preset})", highlight=False)
    out.print(f"  URL:    {base_url}{info.url_path}", highlight=False, markup=False)
    if created.secret is not None:
        secret = created.secret.get_secret_value()
        out.print(f"  secret: {secret}", highlight=False, markup=False)
        err.print("The secret is shown once: store it now.", highlight=False)
    if info.previous_secret_expires is not None:
        until = info.previous_secret_expires.isoformat(timespec="seconds")
        out.print(f"  the previous secret is accepted until {until}", highlight=False)


@app.command()
@run_async
async def create(
    slug: Annotated[str, typer.Argument(help="Lower-case letters, digits and '-'; in the URL.")],
    preset: Annotated[
        str,
        typer.Option(help="github, stripe, slack, standard, shared-secret, or none."),
    ],
    secret_from_env: SecretFromEnv = None,
    template: Annotated[
        Path | None,
        typer.Option(help="JSON file with an event_template (event/resource/payload)."),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    delivery_id_header: Annotated[
        str | None, typer.Option(help="Header that identifies a delivery (replay protection).")
    ] = None,
    secret_header: Annotated[
        str | None, typer.Option(help="For shared-secret: the header holding the secret.")
    ] = None,
    keep_header: Annotated[
        list[str] | None, typer.Option(help="Copy this request header into the payload.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a webhook; prints its URL and (when generated) its secret, once."""
    from pydantic import ValidationError

    from proctor.runtime.webhooks import WebhookCreate

    fields: dict[str, Any] = {
        "slug": slug,
        "preset": preset,
        "secret": _secret_from_env(secret_from_env),
        "event_template": _template(template),
        "description": description,
        "delivery_id_header": delivery_id_header,
        "keep_headers": keep_header,
    }
    if secret_header is not None:
        fields["secret_header"] = secret_header
    try:
        spec = WebhookCreate.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "webhook"
        fail(f"{where}: {first['msg'].removeprefix('Value error, ')}")
    async with _client() as client:
        created = await client.webhooks.create(spec)
        _print_created(created, client.transport.base_url, json_output, "created")


@app.command("ls")
@run_async
async def list_webhooks(json_output: JsonOption = False) -> None:
    """List webhooks (never their secrets)."""
    async with _client() as client:
        infos: list[WebhookInfo] = []
        page_token: str | None = None
        while True:
            page = await client.webhooks.list(limit=1000, page_token=page_token)
            infos += page.items
            if page.next_page is None:
                break
            page_token = page.next_page
        base_url = client.transport.base_url
    if json_output:
        print(json.dumps([info.model_dump(mode="json") for info in infos]))
        return
    if not infos:
        err.print("no webhooks yet: create one with `proctor webhook create SLUG --preset ...`")
        return
    err.print(f"senders POST to {base_url}/hooks/<slug>", highlight=False, markup=False)
    table = Table("SLUG", "PRESET", "ENABLED", "CREATED", "DESCRIPTION", box=None, pad_edge=False)
    for info in infos:
        table.add_row(
            info.slug,
            info.preset.value,
            "yes" if info.enabled else "no",
            info.created.strftime("%Y-%m-%d %H:%M"),
            info.description,
        )
    out.print(table)


@app.command()
@run_async
async def inspect(
    slug: Annotated[str, typer.Argument(help="The webhook's slug.")],
    deliveries: Annotated[
        int, typer.Option(min=0, max=1000, help="How many recent deliveries to show.")
    ] = 10,
    json_output: JsonOption = False,
) -> None:
    """Show one webhook (no secret) and its recent deliveries, accepted and refused."""
    async with _client() as client:
        info = await client.webhooks.read(slug)
        recent = await client.webhooks.deliveries(slug, limit=deliveries) if deliveries else []
        base_url = client.transport.base_url
    if json_output:
        shown = {
            "webhook": info.model_dump(mode="json"),
            "deliveries": [d.model_dump(mode="json") for d in recent],
        }
        print(json.dumps(shown))
        return
    out.print(f"webhook {info.slug}", highlight=False)
    rows = {
        "URL": f"{base_url}{info.url_path}",
        "preset": info.preset.value,
        "enabled": "yes" if info.enabled else "no",
        "event": info.event_name if info.event_template is None else "(from the template)",
        "delivery id header": info.delivery_id_header or "(the preset's)",
        "kept headers": ", ".join(info.keep_headers or ()) or "(the preset's)",
        "tolerance": f"{info.tolerance.total_seconds():g} s",
        "previous secret until": info.previous_secret_expires.isoformat(timespec="seconds")
        if info.previous_secret_expires
        else "-",
        "description": info.description or "-",
    }
    for key, value in rows.items():
        out.print(f"  {key + ':':23}{value}", highlight=False, markup=False)
    if not recent:
        return
    table = Table("WHEN", "OUTCOME", "EVENT / REASON", "DELIVERY", box=None, pad_edge=False)
    for d in recent:
        detail = d.event if d.outcome == "accepted" else f"{d.status} {d.reason}"
        table.add_row(
            d.occurred.strftime("%Y-%m-%d %H:%M:%S"), d.outcome, detail, d.delivery_id or "-"
        )
    out.print(table)


@app.command("rotate-secret")
@run_async
async def rotate_secret(
    slug: Annotated[str, typer.Argument(help="The webhook's slug.")],
    grace: Annotated[
        str, typer.Option(help="How long the current secret keeps working: 0, 90m, 24h, 7d.")
    ] = "24h",
    secret_from_env: SecretFromEnv = None,
    json_output: JsonOption = False,
) -> None:
    """Give a webhook a new secret; the current one keeps working for --grace."""
    keep = _duration(grace, "--grace")
    secret = _secret_from_env(secret_from_env)
    async with _client() as client:
        created = await client.webhooks.rotate_secret(slug, secret=secret, grace=keep)
        _print_created(created, client.transport.base_url, json_output, "has a new secret")


@app.command()
@run_async
async def delete(slug: Annotated[str, typer.Argument(help="The webhook's slug.")]) -> None:
    """Delete a webhook: its URL answers 404 from now on."""
    async with _client() as client:
        await client.webhooks.delete(slug)
    err.print(f"webhook {slug} deleted", highlight=False, markup=False)
