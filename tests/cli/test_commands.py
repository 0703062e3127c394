"""The whole grammar against a real server: every group lists its verbs; empty lists say how
to fill them; unknown names are one-line errors with exit 1; --json variants parse; questions
answered no change nothing; a second server on a home in use is refused; ``events stream``
prints lines for people and exits 130 on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from proctor.events.model import Event
from proctor.runtime.server import LocalServer
from tests.cli.conftest import one_line_error, proctor
from tests.ui.deploying import FLOWS, PROCTOR

pytestmark = pytest.mark.nats
UNKNOWN_ID = "0190b0a8-3c1e-7000-8000-000000000001"
GRAMMAR = {
    "server": ["start"],
    "worker": ["start"],
    "deployment": ["ls", "inspect", "run", "pause", "resume", "delete"],
    "run": ["ls", "inspect", "logs", "watch", "cancel", "retry"],
    "automation": ["apply", "ls", "inspect", "pause", "resume", "delete"],
    "events": ["emit", "stream", "catalogue"],
    "webhook": ["create", "ls", "inspect", "rotate-secret", "delete"],
    "token": ["create"],
    "config": ["show"],
    "work-pool": ["create", "ls", "inspect", "queue", "pause", "resume", "delete"],
    "concurrency-limit": ["set", "ls", "rm"],
}


def commands_listed(help_text: str) -> set[str]:
    """The command names of a Typer help screen's Commands box."""
    box = help_text.split("Commands")[1]
    rows = [line for line in box.splitlines() if line.startswith("│ ") and line[2] != " "]
    return {row.split()[1] for row in rows}


@pytest.mark.parametrize("group", sorted(GRAMMAR))
async def test_every_group_lists_its_verbs(group: str) -> None:
    top = await proctor("--help")
    assert top.exit_code == 0
    assert {group, "deploy"} <= commands_listed(top.stdout)
    shown = await proctor(group, "--help")
    assert shown.exit_code == 0, shown.output
    assert set(GRAMMAR[group]) <= commands_listed(shown.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "ls"],
        ["run", "retry", "x"],
        ["deploy", f"{FLOWS}:slow", "--name", "x", "--pool", "p"],
        ["deployment", "run", "a/b"],
        ["work-pool", "ls"],
        ["concurrency-limit", "ls"],
        ["automation", "ls"],
        ["webhook", "ls"],
        ["events", "stream"],
        ["worker", "start", "--pool", "p"],
    ],
)
async def test_without_a_server_each_command_says_how_to_start_one(
    isolated_environment: Path, args: list[str]
) -> None:
    one_line_error(await proctor(*args), "`proctor server start`")


async def test_empty_lists_say_how_to_fill_them_and_json_is_an_empty_list(
    server: LocalServer,
) -> None:
    hints = {
        ("run", "ls"): "no flow runs match",
        ("deployment", "ls"): "proctor deploy",
        ("work-pool", "ls"): "proctor work-pool create",
        ("concurrency-limit", "ls"): "proctor concurrency-limit set",
        ("automation", "ls"): "proctor automation apply",
        ("webhook", "ls"): "proctor webhook create",
    }
    for args, hint in hints.items():
        shown = await proctor(*args)
        assert (shown.exit_code, hint in shown.output) == (0, True), (args, shown.output)
        listed = await proctor(*args, "--json")
        assert (listed.exit_code, json.loads(listed.stdout)) == (0, []), (args, listed.output)


async def test_unknown_names_are_one_line_errors_with_exit_1(server: LocalServer) -> None:
    expected = [
        *[
            (["run", verb, ref], "`proctor run ls`")
            for verb in ("inspect", "logs", "watch", "cancel", "retry")
            for ref in ("no-such-run", UNKNOWN_ID)
        ],
        *[
            (["deployment", *verb, "etl/nope"], "no deployment 'etl/nope'")
            for verb in (["inspect"], ["run"], ["pause"], ["resume"], ["delete", "--yes"])
        ],
        (["deployment", "inspect", "nope"], "name it 'flow-name/deployment-name'"),
        *[
            (["work-pool", verb, "nope"], "no work pool 'nope'")
            for verb in ("inspect", "pause", "resume", "delete")
        ],
        (["work-pool", "queue", "nope", "q"], "no work pool 'nope'"),
        *[
            (["automation", *verb, "nope"], "no automation 'nope'")
            for verb in (["inspect"], ["pause"], ["resume"], ["delete", "--yes"])
        ],
        (["webhook", "inspect", "nope"], "webhook 'nope' not found"),
        (["concurrency-limit", "rm", "nope"], "tag 'nope' has no concurrency limit"),
        (["work-pool", "create", "p", "--queue", "q:high"], "--queue: 'q:high'"),
        (["events", "stream", "a..b"], "event name filter 'a..b'"),
        (["token", "create", "t", "--scope", "root"], "--scope: 'root' is not one of"),
    ]
    for args, message in expected:
        result = await proctor(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, (args, result.output)


async def test_work_pools_and_tag_limits_as_json(server: LocalServer) -> None:
    created = await proctor("work-pool", "create", "etl", "--queue", "high:1", "--json")
    assert created.exit_code == 0, created.output
    assert [q["name"] for q in json.loads(created.stdout)["queues"]] == ["high"]
    queued = await proctor("work-pool", "queue", "etl", "low", "--priority", "5", "--json")
    assert queued.exit_code == 0, queued.output
    queues = {q["name"]: q for q in json.loads(queued.stdout)["queues"]}
    assert queues["low"]["priority"] == 5
    assert (await proctor("work-pool", "pause", "etl")).exit_code == 0
    assert json.loads((await proctor("work-pool", "ls", "--json")).stdout)[0]["paused"] is True
    resumed = await proctor("work-pool", "resume", "etl")
    assert (resumed.exit_code, "paused" in resumed.stdout) == (0, False), resumed.output
    inspected = json.loads((await proctor("work-pool", "inspect", "etl", "--json")).stdout)
    assert (inspected["name"], inspected["paused"]) == ("etl", False)
    deleted = await proctor("work-pool", "delete", "etl")
    assert (deleted.exit_code, "Work pool etl deleted" in deleted.stdout) == (0, True)
    one_line_error(await proctor("work-pool", "inspect", "etl"), "no work pool 'etl'")

    assert (await proctor("concurrency-limit", "set", "db", "2")).exit_code == 0
    limits = json.loads((await proctor("concurrency-limit", "ls", "--json")).stdout)
    assert [(limit["tag"], limit["limit"]) for limit in limits] == [("db", 2)]


async def test_deployments_as_json_and_deletes_that_ask_first(
    server: LocalServer, tmp_path: Path
) -> None:
    deployed = await proctor(
        "deploy", f"{FLOWS}:nightly_report", "--name", "daily", "--pool", "p", "--json"
    )
    assert deployed.exit_code == 0, deployed.output
    (listed,) = json.loads((await proctor("deployment", "ls", "--json")).stdout)
    assert json.loads(deployed.stdout)["id"] == listed["id"]
    assert (listed["flow_name"], listed["name"]) == ("nightly-report", "daily")
    assert listed["paused"] is False
    paused = await proctor("deployment", "pause", "nightly-report/daily", "--json")
    assert json.loads(paused.stdout)["paused"] is True
    resumed = await proctor("deployment", "resume", listed["id"], "--json")
    assert json.loads(resumed.stdout)["paused"] is False
    shown = await proctor("deployment", "inspect", "nightly-report/daily")
    assert (shown.exit_code, "nightly_report" in shown.stdout) == (0, True), shown.output

    declined = await proctor("deployment", "delete", "nightly-report/daily", stdin="n\n")
    assert declined.exit_code == 1
    assert len(json.loads((await proctor("deployment", "ls", "--json")).stdout)) == 1
    confirmed = await proctor("deployment", "delete", "nightly-report/daily", stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads((await proctor("deployment", "ls", "--json")).stdout) == []

    rules = tmp_path / "rules.py"
    rules.write_text(
        "from proctor import Automation, EmitEvent, on_event\n"
        "echo = Automation(name='echo', trigger=on_event('a.b'),\n"
        "    actions=[EmitEvent(event='c.d', resource={'proctor.resource.id': 'x'})])\n"
    )
    assert (await proctor("automation", "apply", str(rules))).exit_code == 0
    assert (await proctor("automation", "delete", "echo", stdin="n\n")).exit_code == 1
    (kept,) = json.loads((await proctor("automation", "ls", "--json")).stdout)
    assert kept["name"] == "echo"


async def test_a_second_server_on_a_home_in_use_is_refused(server: LocalServer) -> None:
    second = await asyncio.create_subprocess_exec(
        PROCTOR, "server", "start", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(second.communicate(), 60)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 1, out
    assert err.decode().strip().splitlines() == [
        f"error: a Proctor server is already running for {server.settings.home} "
        f"(pid {os.getpid()}): stop it first, or set PROCTOR_HOME to another folder"
    ]


async def test_events_emit_and_stream_for_people_until_ctrl_c(server: LocalServer) -> None:
    assert server.bus is not None
    emitted = await proctor("events", "emit", "shop.order.created", "--resource-id", "order-7")
    assert emitted.exit_code == 0, emitted.output
    assert emitted.stdout.startswith("emitted shop.order.created ")
    assert "(stream sequence " in emitted.stdout

    stream = await asyncio.create_subprocess_exec(
        PROCTOR, "events", "stream", "shop.>", "--all",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        assert stream.stdout is not None
        replayed = (await asyncio.wait_for(stream.stdout.readline(), 60)).decode()
        assert "shop.order.created  order-7  {" in replayed
        await server.bus.publish(Event.build("shop.order.paid", {"proctor.resource.id": "o-7"}))
        live = (await asyncio.wait_for(stream.stdout.readline(), 60)).decode()
        assert "shop.order.paid  o-7" in live
        stream.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(stream.wait(), 30) == 130
    finally:
        if stream.returncode is None:
            stream.kill()
            await stream.wait()
