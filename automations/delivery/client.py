"""One guarded HTTP exchange: SSRF-checked, pinned to the checked address, timed, capped.

Requests go straight to an httpx *transport*, not a client: no environment proxies, no
cookies, no automatic redirects, and no ``httpx`` log line (its client logs every URL at
INFO, and a Slack webhook URL is a credential). Errors never carry the URL: only the host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import httpx

from proctor.automations.delivery.guard import (
    DestinationPolicy,
    Resolver,
    check_destination,
    system_resolver,
)
from proctor.core.errors import DeliveryError

__all__ = ("DEFAULT_MAX_RESPONSE_BYTES", "GuardedHttp", "HttpReply")

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_DROPPED: Final = ("authorization", "cookie", "proxy-authorization")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """The answer: status, headers and at most ``max_response_bytes`` of the body."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool

    @property
    def is_redirect(self) -> bool:
        return self.status in _REDIRECTS and "location" in self.headers

    def text(self, limit: int = 200) -> str:
        """The start of the body as text, whitespace collapsed, for reasons and details."""
        text = " ".join(self.body[: limit * 4].decode("utf-8", "replace").split())
        return text[:limit]


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise DeliveryError(
            "the destination URL is not a valid http(s) URL with a host", reason="invalid_url"
        )
    if parsed.userinfo:
        raise DeliveryError(
            "the destination URL holds credentials (user:password@); send them in a header",
            reason="invalid_url",
        )
    return parsed


def _without(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() not in names}


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return (url.scheme, url.raw_host, url.port)


class GuardedHttp:
    """Sends requests to destinations the ``DestinationPolicy`` allows, one exchange each.

    ``timeout_s`` bounds the whole exchange (every redirect hop included);
    ``max_redirects`` > 0 follows redirects, re-checking each hop against the policy.
    """

    def __init__(
        self,
        *,
        policy: DestinationPolicy | None = None,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_redirects: int = 0,
    ) -> None:
        self.policy = policy or DestinationPolicy()
        self._resolver = resolver
        self._owns_transport = transport is None
        # No keep-alive: a pooled connection is keyed by address, and two hosts behind one
        # address must not share a TLS session checked for the other's name.
        self._transport = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0)
        )
        self.timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport if this object made it."""
        if self._owns_transport:
            await self._transport.aclose()

    async def request(
        self, method: str, url: str | httpx.URL, *, headers: Mapping[str, str], body: bytes = b""
    ) -> HttpReply:
        """Send one request (following allowed redirects) and return the capped reply.

        Raises ``DestinationRefusedError`` for a refused address, ``DeliveryError`` with
        reason ``invalid_url``, ``dns_error``, ``timeout`` or ``connect_error`` otherwise.
        """
        target = _parse_url(url)
        current = dict(headers)
        try:
            async with asyncio.timeout(self.timeout_s):
                for hop in range(self._max_redirects + 1):
                    reply = await self._exchange(method, target, current, body)
                    if not reply.is_redirect or hop == self._max_redirects:
                        return reply
                    following = _parse_url(target.join(reply.headers["location"]))
                    if reply.status in (301, 302, 303) and method != "HEAD":
                        method, body = "GET", b""
                        current = _without(current, ("content-type",))
                    if _origin(following) != _origin(target):
                        current = _without(current, _CROSS_ORIGIN_DROPPED)
                    target = following
        except (TimeoutError, httpx.TimeoutException):
            raise DeliveryError(
                f"no complete answer from {target.host!r} within {self.timeout_s} s",
                reason="timeout",
                retryable=True,
            ) from None
        except httpx.TransportError as error:
            raise DeliveryError(
                f"could not reach {target.host!r}: {type(error).__name__}",
                reason="connect_error",
                retryable=True,
            ) from None
        raise AssertionError("unreachable: the loop returns on its last hop")  # pragma: no cover

    async def _exchange(
        self, method: str, url: httpx.URL, headers: dict[str, str], body: bytes
    ) -> HttpReply:
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await check_destination(host, port, self.policy, self._resolver)
        extensions: dict[str, object] = {"timeout": httpx.Timeout(self.timeout_s).as_dict()}
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        request = httpx.Request(
            method,
            url.copy_with(host=str(address)),
            headers={
                **_without(headers, ("host",)),
                "host": url.netloc.decode("ascii"),
            },
            content=body,
            extensions=extensions,
        )
        response = await self._transport.handle_async_request(request)
        chunks: list[bytes] = []
        size, truncated = 0, False
        try:
            async for chunk in response.aiter_raw():
                room = self._max_response_bytes - size
                if len(chunk) > room:
                    chunks.append(chunk[:room])
                    truncated = True
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            await response.aclose()
        return HttpReply(response.status_code, response.headers, b"".join(chunks), truncated)
