"""Where a worker (or a serving process) finds NATS: ``PROCTOR_NATS_URL``, else the local
server's discovery file."""

from __future__ import annotations

from proctor.core.discovery import read_discovery
from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings

__all__ = ("resolve_nats",)


def resolve_nats(settings: ProctorSettings) -> tuple[str, str]:
    """The NATS URL and namespace to use; ``ConfigurationError`` saying how to get one."""
    if settings.nats_url is not None:
        return settings.nats_url, settings.namespace
    info = read_discovery(settings.home)
    if info is None:
        raise ConfigurationError(
            f"no Proctor server is running (no live discovery file in {settings.home}): "
            "start one with `proctor server start`, or set PROCTOR_NATS_URL",
            setting="PROCTOR_NATS_URL",
        )
    return info.nats_url, info.namespace
