"""Outgoing webhooks (what ``CallWebhook`` runs): signed, SSRF-guarded, bounded.

- Signed with the Standard Webhooks scheme when a ``whsec_`` secret is given
  (``webhook-id`` = the caller's idempotency key, so a retried action carries the same id
  and the receiver can drop the duplicate).
- Only public destinations, unless the ``DestinationPolicy`` allows a host or network;
  every address the host resolves to is checked and the connection goes to the checked one.
- No redirects by default; a ``GuardedHttp`` with ``max_redirects`` re-checks every hop.
- One attempt per call, bounded in time and in how much of the answer is read; the outcome
  says whether a retry may help (timeouts, 408, 429, 5xx) and the engine retries.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

from pydantic import SecretStr

from proctor.automations.delivery import DeliveryOutcome, GuardedHttp
from proctor.automations.signing import parse_standard_secret, standard_headers
from proctor.core.errors import ConfigurationError, DeliveryError

__all__ = ("OutgoingWebhookSender", "check_headers")

logger = logging.getLogger(__name__)

_RESERVED: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_SIGNATURE_HEADERS: Final = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
_TOKEN: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def check_headers(headers: Mapping[str, str], *, signed: bool) -> None:
    """Raise ``ConfigurationError`` (setting ``headers``) for headers a caller may not set."""
    reserved = _RESERVED | (_SIGNATURE_HEADERS if signed else frozenset())
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise ConfigurationError(
                f"headers: {name[:64]!r} is not a header name", setting="headers"
            )
        if name.lower() in reserved:
            raise ConfigurationError(
                f"headers: {name!r} is set by Proctor; remove it", setting="headers"
            )
        if "\r" in value or "\n" in value:
            raise ConfigurationError(
                f"headers: the value of {name!r} contains a line break", setting="headers"
            )


class OutgoingWebhookSender:
    """Sends one HTTP request per call. Share one per process (its transport pools nothing)."""

    def __init__(self, *, http: GuardedHttp | None = None) -> None:
        self._http = http or GuardedHttp()
        self._owns_http = http is None

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
        if self._owns_http:
            await self._http.aclose()

    async def send(
        self,
        url: SecretStr,
        *,
        message_id: str,
        now: datetime,
        body: bytes | Any = None,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        secret: SecretStr | None = None,
    ) -> DeliveryOutcome:
        """Send ``body`` (bytes as they are, anything else as JSON) to ``url``.

        ``message_id`` is the idempotency key (``webhook-id``); ``now`` (aware) is the
        signature's timestamp. Raises ``ConfigurationError`` for bad headers or secret;
        every delivery problem is an outcome.
        """
        extra = dict(headers or {})
        check_headers(extra, signed=secret is not None)
        if now.tzinfo is None:
            raise ConfigurationError("now must be timezone-aware", setting="now")
        content = self._content(body, extra)
        if secret is not None:
            try:
                key = parse_standard_secret(secret.get_secret_value())
            except ValueError as error:
                raise ConfigurationError(f"secret: {error}", setting="secret") from None
            extra.update(standard_headers(key, message_id, int(now.timestamp()), content))
        try:
            reply = await self._http.request(
                method, url.get_secret_value(), headers=extra, body=content
            )
        except DeliveryError as error:
            logger.warning("outgoing webhook %s: %s", message_id, error)
            return DeliveryOutcome.of_error(error)
        reason = "redirect_not_followed" if reply.is_redirect else None
        outcome = DeliveryOutcome.of_reply(reply, reason=reason, detail=reply.text() or None)
        if not outcome.delivered:
            logger.warning("outgoing webhook %s: %s", message_id, outcome.reason)
        return outcome

    @staticmethod
    def _content(body: bytes | Any, headers: dict[str, str]) -> bytes:
        if body is None:
            return b""
        if isinstance(body, bytes):
            return body
        if not any(name.lower() == "content-type" for name in headers):
            headers["content-type"] = "application/json"
        try:
            return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as error:
            raise ConfigurationError(
                f"body: not JSON-serialisable: {error}", setting="body"
            ) from None
