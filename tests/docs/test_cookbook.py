"""Every Python block of docs/cookbook.md runs, and defines valid automations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proctor import Automation

COOKBOOK = Path(__file__).parents[2] / "docs" / "cookbook.md"
BLOCKS = re.findall(r"```python\n(.*?)```", COOKBOOK.read_text(), flags=re.DOTALL)


def test_the_cookbook_has_recipes() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[f"recipe-{i}" for i in range(len(BLOCKS))])
def test_each_recipe_defines_a_valid_automation_that_round_trips(block: str) -> None:
    namespace: dict[str, object] = {}
    exec(compile(block, str(COOKBOOK), "exec"), namespace)
    automations = [value for value in namespace.values() if isinstance(value, Automation)]
    assert len(automations) == 1
    (automation,) = automations
    assert Automation.from_json(automation.to_json()) == automation
