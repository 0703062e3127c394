"""The built-in event catalogue stays true to the code, and its AsyncAPI document is complete."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import proctor.runtime.engine.states as states
from proctor.catalogue import BUILTIN_EVENTS, RUN_STATES, asyncapi
from proctor.cli.main import app
from proctor.events.names import NameFilter


def test_every_run_state_of_the_engine_is_catalogued() -> None:
    engine_states = set(states.__all__) - {"State", "StateType", "validate_transition"}
    assert set(RUN_STATES) == engine_states
    names = {entry.name for entry in BUILTIN_EVENTS}
    for state in RUN_STATES:
        assert f"proctor.flow-run.{state}" in names
        assert f"proctor.task-run.{state}" in names


def test_catalogued_names_are_valid_filters() -> None:
    for entry in BUILTIN_EVENTS:
        NameFilter(entry.name.replace("<slug>", "*"))


def test_asyncapi_has_a_channel_per_event_with_the_event_schema() -> None:
    document = asyncapi()
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert "proctor.events.proctor.flow-run.Failed" in addresses
    assert "proctor.events.webhook.*" in addresses
    assert len(addresses) == len(BUILTIN_EVENTS)
    assert "Event" in document["components"]["schemas"]


def test_cli_prints_the_catalogue_and_the_document() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["events", "catalogue"])
    assert listed.exit_code == 0
    assert "proctor.automation.triggered" in listed.output
    document = runner.invoke(app, ["events", "catalogue", "--asyncapi"])
    assert document.exit_code == 0
    assert json.loads(document.output)["info"]["title"] == "Proctor events"
