"""The CLI against a real server: start it, emit, stream, config; errors in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proctor.cli.main import app
from proctor.core.discovery import read_discovery

pytestmark = pytest.mark.nats
PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")
runner = CliRunner()


def test_help_lists_the_command_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("server", "events", "config"):
        assert group in result.output


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_DATABASE_URL", "postgresql://app:hunter2@db.internal/proctor")
    monkeypatch.setenv("PROCTOR_API_KEY", "pk_live_secret")
    monkeypatch.setenv("PROCTOR_NATS_URL", "nats://tok3n@nats.internal:4222")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert shown["PROCTOR_DATABASE_URL"] == "postgresql://app:***@db.internal/proctor"
    assert shown["PROCTOR_API_KEY"] == "********"
    assert shown["PROCTOR_NATS_URL"] == "nats://***@nats.internal:4222"
    for secret in ("hunter2", "pk_live_secret", "tok3n"):
        assert secret not in result.output


def test_emit_without_a_server_says_how_to_start_one() -> None:
    result = runner.invoke(app, ["events", "emit", "a.b", "--resource-id", "x"])
    assert result.exit_code == 1
    assert "proctor server start" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a..b", "--resource-id", "x"], "token 2"),
        (["a.b", "--resource-id", "x", "--payload", "[1]"], "--payload: must be a JSON object"),
        (["a.b", "--resource-id", "x", "--payload", "{bad"], "--payload: not valid JSON"),
        (["a.b", "--resource-id", "x", "--label", "novalue"], "--label: 'novalue'"),
    ],
)
def test_emit_rejects_bad_input_in_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["events", "emit", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def running_server(isolated_environment: Path) -> Iterator[subprocess.Popen[str]]:
    """`proctor server start` as a user runs it, with its own embedded NATS."""
    server = subprocess.Popen(
        [PROCTOR, "server", "start", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PROCTOR_HOME": str(isolated_environment)},
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    assert "Proctor server ready" in first, first
    yield server
    if server.poll() is None:
        server.kill()
        server.wait()
    server.stdout.close()


def test_server_start_emit_and_stream(
    running_server: subprocess.Popen[str], isolated_environment: Path
) -> None:
    info = read_discovery(isolated_environment)
    assert info is not None
    assert info.nats_url.startswith("nats://127.0.0.1:")
    env = {**os.environ, "PROCTOR_HOME": str(isolated_environment)}
    stream = subprocess.Popen(
        [PROCTOR, "events", "stream", "shop.>", "--json", "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        emitted = subprocess.run(
            [PROCTOR, "events", "emit", "shop.order.created", "--resource-id", "shop.order.7",
             "--payload", '{"total": 70}', "--json"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert emitted.returncode == 0, emitted.stderr
        sent = json.loads(emitted.stdout)
        assert stream.stdout is not None
        received = json.loads(stream.stdout.readline())
        assert received["id"] == sent["id"]
        assert received["payload"] == {"total": 70}
    finally:
        stream.send_signal(signal.SIGINT)
        stream.wait(30)
        assert stream.stdout is not None
        assert stream.stderr is not None
        stream.stdout.close()
        stream.stderr.close()

    running_server.send_signal(signal.SIGTERM)
    assert running_server.wait(30) == 0
    assert read_discovery(isolated_environment) is None


def test_python_module_entry_point_matches_the_script() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from proctor.cli.main import main; main()", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "events" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "hang-up"])
def test_the_terminal_s_signals_stop_the_server_cleanly(
    signum: signal.Signals, isolated_environment: Path
) -> None:
    """A terminal's Ctrl-C signals its whole process group: the embedded nats-server must not
    quit under the server while it drains (no 409s, no unconfirmed acks, nothing left). A
    hang-up (the terminal closed) stops the server as cleanly, nats-server included."""
    server = subprocess.Popen(
        [PROCTOR, "server", "start", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PROCTOR_HOME": str(isolated_environment)},
    )  # fmt: skip
    assert server.stdout is not None
    try:
        assert "Proctor server ready" in server.stdout.readline()
        env = {**os.environ, "PROCTOR_HOME": str(isolated_environment)}
        emitted = subprocess.run(
            [PROCTOR, "events", "emit", "shop.order.created", "--resource-id", "shop.order.8"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert emitted.returncode == 0, emitted.stderr
        os.killpg(server.pid, signum)
        assert server.wait(30) == 0
        said = server.stdout.read()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        server.stdout.close()
    for trouble in ("Server Shutdown", "not confirm", "Traceback", "retrying"):
        assert trouble not in said, said
    assert read_discovery(isolated_environment) is None
    leftover = subprocess.run(
        ["pgrep", "-f", str(isolated_environment)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == "", "a process of the server is still running"
