"""The README's commands exist: every ``.venv/bin/proctor ...`` line names a real command path
with real options (``a | b | c`` lists alternatives of one group), and every ``make X`` is a
Makefile target. The long-running commands themselves are not run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from proctor.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
PROCTOR = ".venv/bin/proctor "


def _proctor_commands() -> list[list[str]]:
    """Each README command line as words after ``proctor``, one per ``|`` alternative."""
    found: list[list[str]] = []
    for block in SH_BLOCKS:
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if not line.startswith(PROCTOR):
                continue
            first, *others = line.removeprefix(PROCTOR).split(" | ")
            words = shlex.split(first)
            found.append(words)
            group = words[0]
            found.extend([group, *shlex.split(other)] for other in others)
    return found


def _make_targets() -> list[str]:
    in_blocks = [m for block in SH_BLOCKS for m in re.findall(r"^make (\S+)", block, re.M)]
    inline = re.findall(r"`make (\S+?)`", README)
    return sorted(set(in_blocks + inline))


COMMANDS = _proctor_commands()
ROOT_COMMAND = typer.main.get_command(app)


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A group's commands by name (None for a command). Typer bundles its own Click: its
    classes are not ``click``'s, so look at what the object has."""
    return getattr(command, "commands", None)


def _resolve(words: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command path ``words`` starts with, its command, and the words after it."""
    command: Any = ROOT_COMMAND
    path: list[str] = []
    rest = list(words)
    while (group := _subcommands(command)) is not None and rest:
        sub = group.get(rest[0])
        if sub is None:
            break
        command = sub
        path.append(rest.pop(0))
    return path, command, rest


def test_the_readme_has_commands_to_check() -> None:
    assert len(COMMANDS) >= 12
    assert {"demo", "test"} <= set(_make_targets())


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w[:2]) for w in COMMANDS])
def test_each_proctor_command_exists_with_its_options(words: list[str]) -> None:
    path, command, rest = _resolve(words)
    assert path, f"proctor {words[0]!r}: no such command"
    assert _subcommands(command) is None, f"proctor {' '.join(words)}: no such subcommand"
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    options = {w.strip("[]").split("=")[0] for w in rest if w.strip("[]").startswith("-")}
    assert options <= known, f"proctor {' '.join(path)}: unknown options {options - known}"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_each_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", makefile, re.M))
    assert set(_make_targets()) <= targets
