"""The commands in the README and the docs exist: every ``proctor ...`` command (a line of a
shell block, or an inline code span in the docs) names a real command path with real options
(``a | b | c`` lists alternatives of one group), and every ``make X`` is a Makefile target.
The long-running commands themselves are not run."""

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
DOCS = [path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))]
DOC_LINES = [
    *(line for doc in DOCS for block in re.findall(r"```(?:sh|bash)\n(.*?)```", doc, re.DOTALL)
      for line in block.splitlines()),
    *(span for doc in DOCS for span in re.findall(r"`((?:\.venv/bin/)?proctor [^`]+)`", doc)),
]  # fmt: skip
PROCTOR = re.compile(r"^(?:\.venv/bin/)?proctor ")


def _proctor_commands() -> list[list[str]]:
    """Each README command line as words after ``proctor``, one per ``|`` alternative."""
    found: list[list[str]] = []
    lines = [line for block in SH_BLOCKS for line in block.splitlines()] + DOC_LINES
    for line in lines:
        line = line.split("  #", 1)[0].strip()
        if not PROCTOR.match(line):
            continue
        first, *others = PROCTOR.sub("", line).split(" | ")
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
    if _subcommands(command) is not None:  # a group: named alone, or with a placeholder
        assert all(w.startswith("<") for w in rest), f"proctor {' '.join(words)}: no such command"
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    options = {w.strip("[]").split("=")[0] for w in rest if w.strip("[]").startswith("-")}
    assert options <= known, f"proctor {' '.join(path)}: unknown options {options - known}"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_each_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", makefile, re.M))
    assert set(_make_targets()) <= targets
