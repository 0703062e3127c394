"""The client's transport: finds the API, authenticates, and turns error answers into errors."""

from __future__ import annotations

from typing import Any

import httpx

from proctor.core.discovery import read_discovery
from proctor.core.errors import ApiError, ConfigurationError, NotFoundError
from proctor.core.settings import ProctorSettings, mask_url

__all__ = ("ApiTransport", "resolve_api_url")


def resolve_api_url(settings: ProctorSettings) -> str:
    """``PROCTOR_API_URL``, else the local server's (discovery file); else a clear error."""
    if settings.api_url:
        return settings.api_url.rstrip("/")
    info = read_discovery(settings.home)
    if info is not None and info.api_url:
        return info.api_url.rstrip("/")
    raise ConfigurationError(
        f"no Proctor API found: set PROCTOR_API_URL, or start a local server with "
        f"`proctor server start` (looked for {settings.home / 'server.json'})",
        setting="PROCTOR_API_URL",
    )


class ApiTransport:
    """JSON over HTTP to one API, with the bearer token from ``PROCTOR_API_KEY``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON (None for an empty answer).
        ``timeout_s`` replaces the client's timeout for this request (a long poll's)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
        try:
            response = await self.http.request(
                method, path, json=json, params=clean, timeout=timeout
            )
        except httpx.TransportError as error:
            raise ApiError(
                0,
                f"cannot reach the Proctor API at {mask_url(self.base_url)} "
                f"({type(error).__name__}); is the server running?",
            ) from None
        if response.status_code >= 400:
            raise self._error(response)
        if not response.content:
            return None
        return response.json()

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        message, field = response.text[:500] or response.reason_phrase, None
        try:
            body = response.json()["error"]
            message, field = body["message"], body.get("field")
        except (ValueError, KeyError, TypeError):
            pass
        kind = NotFoundError if response.status_code == 404 else ApiError
        return kind(response.status_code, message, field=field)

    async def close(self) -> None:
        await self.http.aclose()
