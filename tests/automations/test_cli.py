"""Rules as code against a real local server: ``proctor automation apply FILE.py`` with its
diff, ``--dry-run`` and ``--prune``; ``ls``, ``inspect``, ``pause``, ``resume``, ``delete``;
``Automation.aapply()`` from Python; bad rules refused naming the field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from proctor import Automation, EmitEvent, on_event
from proctor.cli.main import app
from proctor.core.settings import ProctorSettings
from proctor.runtime.server import LocalServer

pytestmark = [pytest.mark.nats]
runner = CliRunner()

RULES = """
from proctor import Automation, CallWebhook, EmitEvent, on_event

HOOK = "https://hooks.example.com/services/secret-token"

echo = Automation(
    name="echo pushes",
    trigger=on_event("github.push"),
    actions=[EmitEvent(event="ci.requested", resource={"proctor.resource.id": "ci"})],
)
rules = [
    Automation(
        name="notify",
        trigger=on_event("ci.failed"),
        actions=[CallWebhook(url=HOOK, body={"text": "{{ event.payload.reason }}"})],
    )
]
"""


@pytest.fixture
async def server(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    running = LocalServer(ProctorSettings(), port=0)
    await running.start()
    yield running
    await running.stop()


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, ["automation", *args])


async def test_apply_prints_the_diff_and_changes_only_what_differs(
    server: LocalServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text(RULES)
    first = await cli("apply", str(rules))
    assert first.exit_code == 0, first.output
    assert "+ echo pushes (created)" in first.output
    assert "+ notify (created)" in first.output
    again = await cli("apply", str(rules))
    assert "= echo pushes (unchanged)" in again.output
    assert "0 created, 0 updated, 2 unchanged, 0 deleted" in again.output

    changed = tmp_path / "changed.py"
    edited = RULES.replace("{{ event.payload.reason }}", "failed")
    changed.write_text(edited.split("echo =")[0] + "rules = " + edited.split("rules = ")[1])
    planned = await cli("apply", str(changed), "--prune", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "~ notify (updated: actions)" in planned.output
    assert "- echo pushes (deleted)" in planned.output
    listed = await cli("ls", "--json")
    assert sorted(a["name"] for a in json.loads(listed.output)) == ["echo pushes", "notify"]

    done = await cli("apply", str(changed), "--prune", "--json")
    report = json.loads(done.output)
    assert report["deleted"] == ["echo pushes"]
    assert [u["name"] for u in report["updated"]] == ["notify"]
    listed = await cli("ls", "--json")
    assert [a["name"] for a in json.loads(listed.output)] == ["notify"]


async def test_ls_inspect_pause_resume_delete(server: LocalServer, tmp_path: Path) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text(RULES)
    await cli("apply", str(rules))
    shown = await cli("inspect", "notify", "--json")
    assert shown.exit_code == 0, shown.output
    assert "secret-token" not in shown.output
    assert json.loads(shown.output)["automation"]["actions"][0]["url"] == "**********"
    paused = await cli("pause", "notify", "--reason", "noisy")
    assert "paused" in paused.output
    table = await cli("ls")
    assert "paused" in table.output
    assert "event: ci.failed" in table.output
    resumed = await cli("resume", "notify")
    assert "resumed" in resumed.output
    deleted = await cli("delete", "notify", "--yes")
    assert deleted.exit_code == 0
    missing = await cli("inspect", "notify")
    assert missing.exit_code == 1
    assert "no automation 'notify'" in missing.output


async def test_bad_rules_are_refused_naming_the_field(server: LocalServer, tmp_path: Path) -> None:
    rules = tmp_path / "bad.py"
    rules.write_text(RULES.replace("{{ event.payload.reason }}", "{{ event.payload.reason }"))
    refused = await cli("apply", str(rules))
    assert refused.exit_code == 1
    assert "bad.py:15: body.text: unexpected '}'" in refused.output  # the CallWebhook line
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    nothing = await cli("apply", str(empty))
    assert nothing.exit_code == 1
    assert "defines no Automation objects" in nothing.output


async def test_automation_apply_from_python(server: LocalServer) -> None:
    rule = Automation(
        name="from python",
        trigger=on_event("a.b"),
        actions=[EmitEvent(event="c.d", resource={"proctor.resource.id": "x"})],
    )
    assert (await rule.aapply()).created == ("from python",)
    assert (await rule.aapply()).unchanged == ("from python",)
    report = await asyncio.to_thread(rule.model_copy(update={"description": "now"}).apply)
    assert report.updated[0].fields == ("description",)
