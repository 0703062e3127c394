"""examples/webhook_to_flow.py on a real local server: the signed push starts the served
deployment with the sha and branch from the payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from examples import webhook_to_flow

pytestmark = pytest.mark.nats
PUSH = json.loads((Path(webhook_to_flow.HERE) / "data" / "github-push.json").read_text())


async def test_a_signed_push_runs_the_deployment_with_the_payloads_sha(
    isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await webhook_to_flow.main()
    assert run["flow_name"] == "build-site"
    assert run["deployment_name"] == "on-push"
    assert run["parameters"] == {"sha": PUSH["after"], "branch": "master"}
    out = capsys.readouterr().out
    assert "webhook ready: POST http://127.0.0.1:" in out
    assert "+ build the site on a push to master (created)" in out
