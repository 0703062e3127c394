"""The discovery file: how local scripts, workers and the CLI find a running local server."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ("ServerInfo", "discovery_path", "read_discovery", "remove_discovery", "write_discovery")

_FILE_NAME = "server.json"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Where a running local server listens."""

    pid: int
    nats_url: str
    namespace: str = "proctor"
    api_url: str | None = None


def discovery_path(home: Path) -> Path:
    return home / _FILE_NAME


def write_discovery(home: Path, info: ServerInfo) -> Path:
    """Write the discovery file atomically (readers never see half of it)."""
    home.mkdir(parents=True, exist_ok=True)
    path = discovery_path(home)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(info)))
    os.replace(partial, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_discovery(home: Path) -> ServerInfo | None:
    """The running local server's info, or None when there is none (or it died)."""
    try:
        data = json.loads(discovery_path(home).read_text())
        info = ServerInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    return info if _alive(info.pid) else None


def remove_discovery(home: Path, pid: int) -> None:
    """Remove the discovery file if it is still ``pid``'s."""
    info = read_discovery(home)
    if info is not None and info.pid == pid:
        discovery_path(home).unlink(missing_ok=True)
