"""The CLI against a server with API auth on: ``proctor token create`` prints the token once
(alone on stdout), the CLI sends it from PROCTOR_API_KEY, and a missing or too weak token is a
one-line error; ``config show`` masks it."""

from __future__ import annotations

import json

import pytest

from proctor.runtime.server import LocalServer
from tests.cli.conftest import one_line_error, proctor
from tests.ui.conftest import auth_on

__all__ = ("auth_on",)  # the fixture, requested before `server`

pytestmark = pytest.mark.nats


async def token(name: str, scope: str) -> str:
    created = await proctor("token", "create", name, "--scope", scope)
    assert created.exit_code == 0, created.output
    assert f"token '{name}' ({scope}) created: it is shown once" in created.stderr
    value = created.stdout.strip()
    assert value.startswith("pct_")
    assert value not in created.stderr
    return value


async def test_the_cli_sends_the_token_and_says_when_it_is_missing_or_too_weak(
    auth_on: None, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.settings.api_auth == "token"
    reader, writer = await token("dashboards", "read"), await token("ci", "write")

    one_line_error(await proctor("run", "ls"), "missing bearer token")
    monkeypatch.setenv("PROCTOR_API_KEY", "pct_not-a-token")
    one_line_error(await proctor("work-pool", "ls"), "unknown or revoked token")

    monkeypatch.setenv("PROCTOR_API_KEY", reader)
    listed = await proctor("run", "ls", "--json")
    assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])
    one_line_error(
        await proctor("work-pool", "create", "etl"),
        "token 'dashboards' has scope read; this needs write",
    )
    shown = await proctor("config", "show")
    assert shown.exit_code == 0
    assert "PROCTOR_API_KEY=********" in shown.stdout.splitlines()
    assert "PROCTOR_API_AUTH=token" in shown.stdout.splitlines()
    assert reader not in shown.stdout

    monkeypatch.setenv("PROCTOR_API_KEY", writer)
    created = await proctor("work-pool", "create", "etl", "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["name"] == "etl"
    one_line_error(
        await proctor("token", "create", "x", "--scope", "owner"), "--scope: 'owner' is not one of"
    )
