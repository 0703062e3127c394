"""``proctor webhook ...`` against a running server: tables for people, JSON for scripts, the
secret shown once, one-line errors with a non-zero exit status."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from proctor.cli.main import app
from proctor.runtime.server import LocalServer
from proctor.runtime.webhooks import WebhookPreset
from tests.server.conftest import caught_up
from tests.webhooks.signers import sign_github, signed

pytestmark = [pytest.mark.nats, pytest.mark.asyncio(loop_scope="module")]
runner = CliRunner()
BODY = b'{"ref": "refs/heads/main", "after": "abc123"}'


@pytest.fixture
def api_url(shared_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PROCTOR_API_URL", shared_server.api_url)
    return shared_server.api_url


async def proctor(*args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop), while the server serves here."""
    return await asyncio.to_thread(lambda: runner.invoke(app, ["webhook", *args]))


def slug() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


async def post(http: httpx.AsyncClient, name: str, secret: str, delivery: str) -> int:
    headers = sign_github(secret, BODY, datetime.now(UTC), delivery)
    return (await http.post(f"/hooks/{name}", content=BODY, headers=headers)).status_code


async def test_create_prints_the_url_and_the_secret_once(
    api_url: str, shared_http: httpx.AsyncClient
) -> None:
    name = slug()
    created = await proctor("create", name, "--preset", "github")
    assert created.exit_code == 0, created.output
    assert f"{api_url}/hooks/{name}" in created.output
    (line,) = [line for line in created.stdout.splitlines() if "secret:" in line]
    secret = line.split("secret:")[1].strip()
    assert await post(shared_http, name, secret, "d-1") == 202

    for shown in (await proctor("ls"), await proctor("inspect", name)):
        assert shown.exit_code == 0, shown.output
        assert name in shown.output
        assert secret not in shown.output


async def test_json_output_for_scripts(
    shared_server: LocalServer, api_url: str, shared_http: httpx.AsyncClient
) -> None:
    name = slug()
    created = await proctor("create", name, "--preset", "github", "--json")
    assert created.exit_code == 0, created.output
    answer = json.loads(created.stdout)
    assert answer["webhook"]["slug"] == name
    secret = answer["secret"]
    assert await post(shared_http, name, secret, "d-1") == 202
    assert await post(shared_http, name, "wrong", "d-2") == 401

    listed = json.loads((await proctor("ls", "--json")).stdout)
    assert name in [item["slug"] for item in listed]
    assert secret not in json.dumps(listed)
    await caught_up(shared_server)
    inspected = await proctor("inspect", name, "--json")
    deliveries = json.loads(inspected.stdout)["deliveries"]
    assert sorted(d["outcome"] for d in deliveries) == ["accepted", "rejected"]


async def test_secret_from_env_and_a_template_file(
    shared_server: LocalServer,
    api_url: str,
    shared_http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    name = slug()
    monkeypatch.setenv("ORDERS_SECRET", "whsec_orders")
    template = tmp_path / "event.json"
    template.write_text(json.dumps({"event": "shop.order.{{ body.type }}"}))
    created = await proctor(
        "create", name, "--preset", "stripe", "--secret-from-env", "ORDERS_SECRET",
        "--template", str(template),
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "whsec_orders" not in created.output
    assert "secret:" not in created.output
    request = signed(
        WebhookPreset.STRIPE,
        b'{"id": "evt_1", "type": "paid"}',
        secret="whsec_orders",
        at=datetime.now(UTC),
    )
    answer = await shared_http.post(f"/hooks/{name}", content=request.body, headers=request.headers)
    assert answer.status_code == 202, answer.text
    await caught_up(shared_server)  # deliveries are read from the store the recorder feeds
    inspected = await proctor("inspect", name)
    assert "shop.order.paid" in inspected.output


async def test_rotate_secret_then_delete(api_url: str, shared_http: httpx.AsyncClient) -> None:
    name = slug()
    old = json.loads((await proctor("create", name, "--preset", "github", "--json")).stdout)
    rotated = await proctor("rotate-secret", name, "--grace", "0", "--json")
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.stdout)["secret"]
    assert new != old["secret"]
    assert await post(shared_http, name, old["secret"], "d-1") == 401
    assert await post(shared_http, name, new, "d-2") == 202

    human = await proctor("rotate-secret", name, "--grace", "2h")
    assert human.exit_code == 0, human.output
    assert "previous secret is accepted until" in human.output

    assert (await proctor("delete", name)).exit_code == 0
    gone = await proctor("inspect", name)
    assert gone.exit_code == 1
    assert gone.output.strip() == f"error: webhook '{name}' not found (HTTP 404)"
    assert await post(shared_http, name, new, "d-3") == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "--preset", "carrier-pigeon"], "preset: Input should be"),
        (["create", "Bad Slug", "--preset", "github"], "slug: String should match"),
        (
            ["create", "x", "--preset", "github", "--secret-from-env", "NOPE_NOT_SET"],
            "NOPE_NOT_SET",
        ),
        (["create", "x", "--preset", "github", "--template", "/nonexistent.json"], "--template"),
        (["rotate-secret", "x", "--grace", "soon"], "--grace: 'soon'"),
        (["delete", "never-made"], "webhook 'never-made' not found"),
    ],
)
async def test_mistakes_are_one_line_errors(api_url: str, args: list[str], message: str) -> None:
    result = await proctor(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


async def test_a_taken_slug_is_an_error(api_url: str) -> None:
    name = slug()
    assert (await proctor("create", name, "--preset", "none")).exit_code == 0
    again = await proctor("create", name, "--preset", "none")
    assert again.exit_code == 1
    assert "exists already" in again.output


async def test_without_a_server_it_says_how_to_start_one() -> None:
    result = await proctor("ls")
    assert result.exit_code == 1
    assert "proctor server start" in result.output
