"""Proctor's own processes for chaos tests: start a ``proctor`` command, wait for its ready
line, ``kill -9`` it, and always stop it (``ProctorProcess`` is an async context manager).

Stdout is read for the ready line; stderr goes to a log file (never an unread pipe, which
would block a chatty process). Every process gets ``PYTHONUNBUFFERED`` so lines arrive at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sysconfig
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Self

from proctor.events.nats_server import EmbeddedNats

__all__ = ("PROCTOR", "ProctorProcess", "own_nats")

PROCTOR = str(Path(sysconfig.get_path("scripts")) / "proctor")


class ProctorProcess:
    """``proctor *args`` as a subprocess, ready once a stdout line contains ``ready``."""

    def __init__(self, *args: str, env: Mapping[str, str], log: Path, ready: str = "ready") -> None:
        self.args = args
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.ready = ready
        self.process: asyncio.subprocess.Process | None = None
        self.ready_s = 0.0
        """From spawn to the ready line."""

    async def start(self, timeout_s: float = 60.0) -> None:
        started = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as errors:
            self.process = await asyncio.create_subprocess_exec(
                PROCTOR, *self.args, stdout=asyncio.subprocess.PIPE, stderr=errors, env=self.env
            )
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.process.stdout.readline()).decode()
                if not line:
                    raise AssertionError(
                        f"proctor {' '.join(self.args)} ended before it was ready "
                        f"(status {await self.process.wait()}); see {self.log}"
                    )
                if self.ready in line:
                    break
        self.ready_s = time.monotonic() - started

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def kill(self) -> None:
        """``kill -9``, and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (a clean stop), SIGKILL if it does not end within ``timeout_s``."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            await self.kill()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.kill()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def own_nats(folder: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server the test owns (its data goes with ``folder``)."""
    server = EmbeddedNats(folder)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
