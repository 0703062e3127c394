"""One settings object for every Proctor process, read from ``PROCTOR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ("ProctorSettings", "mask_url")


def _default_home() -> Path:
    return Path.home() / ".proctor"


class ProctorSettings(BaseSettings):
    """Effective configuration. Environment variables win over defaults (``PROCTOR_HOME``...)."""

    model_config = SettingsConfigDict(env_prefix="PROCTOR_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Folder for local state: embedded NATS storage, SQLite, discovery file.",
    )
    nats_url: str | None = Field(
        default=None,
        description="External NATS URL (nats://host:4222). Unset: use the local server's.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the store. Unset: SQLite under PROCTOR_HOME.",
    )
    api_url: str | None = Field(
        default=None, description="URL of the Proctor API. Unset: the local server's."
    )
    api_key: SecretStr | None = Field(
        default=None, description="Bearer token sent to the API (see `proctor token create`)."
    )
    api_host: str = Field(
        default="127.0.0.1",
        description="Interface the API binds; other than loopback needs PROCTOR_API_AUTH=token.",
    )
    api_port: int = Field(default=4200, ge=0, le=65535, description="Port of the API and UI.")
    api_auth: Literal["none", "token"] = Field(
        default="none",
        description="'token': every API call needs a bearer token (see `proctor token create`).",
    )
    stream_replicas: int = Field(
        default=1,
        description="Replicas of every stream the server declares: 3 on a NATS cluster.",
    )
    stream_max_age_days: float = Field(
        default=7, gt=0, description="How long the event and log streams keep messages."
    )
    namespace: str = Field(
        default="proctor",
        description="Prefix of every NATS subject, stream and consumer name Proctor uses.",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
    )

    outgoing_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Hosts or CIDR networks (comma-separated) that automations' Slack messages "
        "and webhook calls may reach although not public, e.g. '10.0.0.0/8,hooks.internal'.",
    )

    @field_validator("outgoing_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    def displayable(self) -> dict[str, Any]:
        """The effective values with every secret masked, for ``proctor config show``."""
        database = self.database_url.get_secret_value() if self.database_url else None
        return {
            "PROCTOR_HOME": str(self.home),
            "PROCTOR_NATS_URL": mask_url(self.nats_url) if self.nats_url else None,
            "PROCTOR_DATABASE_URL": mask_url(database) if database else None,
            "PROCTOR_API_URL": mask_url(self.api_url) if self.api_url else None,
            "PROCTOR_API_KEY": "********" if self.api_key else None,
            "PROCTOR_API_HOST": self.api_host,
            "PROCTOR_API_PORT": self.api_port,
            "PROCTOR_API_AUTH": self.api_auth,
            "PROCTOR_NAMESPACE": self.namespace,
            "PROCTOR_STREAM_REPLICAS": self.stream_replicas,
            "PROCTOR_STREAM_MAX_AGE_DAYS": self.stream_max_age_days,
            "PROCTOR_OUTGOING_ALLOW": ",".join(self.outgoing_allow) or None,
        }


def mask_url(url: str) -> str:
    """Return ``url`` with any password (or token in the user part) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None and not (parts.username and "@" in parts.netloc):
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    userinfo = f"{user}:***" if parts.password is not None else "***"
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))
