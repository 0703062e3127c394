"""Post to Slack incoming webhooks within Slack's limits, and say what happened.

- Paced: about one message per second per webhook URL, queued in arrival order (``Pacer``).
- 429: wait ``Retry-After`` (up to ``max_retry_after_s``, else give up as retryable) and
  retry; 5xx, timeouts and connection errors: exponential backoff, at most
  ``max_attempts`` requests in all.
- 400/403/404/410 (``invalid_payload``, ``invalid_token``, ``no_team``,
  ``channel_is_archived``...) and any other 4xx but 408 and 429: no retry, not retryable;
  the outcome carries Slack's word as ``reason``.
- With an ``idempotency_key``, a message already delivered by this sender is not re-sent
  (and concurrent sends with one key share one delivery).
- The URL is a credential: logs and outcomes name it by a fingerprint (``slack:1a2b3c4d``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from types import TracebackType
from typing import Final, Self

from pydantic import SecretStr

from proctor.automations.delivery import DeliveryOutcome, GuardedHttp, Lane, Pacer
from proctor.automations.slack.message import SlackMessage
from proctor.core.errors import DeliveryError

__all__ = ("SlackSender", "fingerprint")

logger = logging.getLogger(__name__)

_REMEMBERED: Final = 10_000
_INTERRUPTED: Final = DeliveryOutcome(
    delivered=False, reason="interrupted", attempts=0, retryable=True
)


def fingerprint(url: str) -> str:
    """A short, stable, non-reversible name for a webhook URL, for logs."""
    return "slack:" + hashlib.sha256(url.encode()).hexdigest()[:8]


def _reason(text: str, status: int, url: str) -> str:
    word = text.replace(url, "***").strip()[:100]
    return word or f"http_{status}"


class SlackSender:
    """Sends ``SlackMessage``s to incoming-webhook URLs. One per process; share it."""

    def __init__(
        self,
        *,
        http: GuardedHttp | None = None,
        pacer: Pacer | None = None,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 60.0,
    ) -> None:
        self._http = http or GuardedHttp()
        self._owns_http = http is None
        self._pacer = pacer or Pacer(1.0)
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._delivered: OrderedDict[str, DeliveryOutcome] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[DeliveryOutcome]] = {}

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
        webhook_url: SecretStr,
        message: SlackMessage,
        *,
        idempotency_key: str | None = None,
    ) -> DeliveryOutcome:
        """Deliver ``message``; never raises for Slack's answers (see ``DeliveryOutcome``)."""
        if idempotency_key is None:
            return await self._send(webhook_url, message)
        if idempotency_key in self._delivered:
            return self._delivered[idempotency_key].model_copy(update={"duplicate": True})
        if idempotency_key in self._in_flight:
            shared = await asyncio.shield(self._in_flight[idempotency_key])
            return shared.model_copy(update={"duplicate": shared.delivered})
        future: asyncio.Future[DeliveryOutcome] = asyncio.get_running_loop().create_future()
        self._in_flight[idempotency_key] = future
        outcome = _INTERRUPTED
        try:
            outcome = await self._send(webhook_url, message)
        finally:
            # Callers sharing this delivery get its outcome; if this call was cancelled,
            # they get a retryable "interrupted" one instead of our cancellation.
            future.set_result(outcome)
            del self._in_flight[idempotency_key]
        if outcome.delivered:
            self._delivered[idempotency_key] = outcome
            while len(self._delivered) > _REMEMBERED:
                self._delivered.popitem(last=False)
        return outcome

    async def _send(self, webhook_url: SecretStr, message: SlackMessage) -> DeliveryOutcome:
        url = webhook_url.get_secret_value()
        name = fingerprint(url)
        body = json.dumps(message.to_json(), ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8"}
        async with self._pacer.lane(name) as lane:
            return await self._attempts(lane, name, url, headers, body)

    async def _attempts(
        self, lane: Lane, name: str, url: str, headers: dict[str, str], body: bytes
    ) -> DeliveryOutcome:
        outcome = DeliveryOutcome(delivered=False, reason="not_sent", attempts=0)
        for attempt in range(1, self._max_attempts + 1):
            await lane.turn()
            wait = min(self._max_backoff_s, self._backoff_s * 2 ** (attempt - 1))
            try:
                reply = await self._http.request("POST", url, headers=headers, body=body)
            except DeliveryError as error:
                outcome = DeliveryOutcome.of_error(error, attempts=attempt)
                if not error.retryable:
                    logger.error("%s: %s", name, error)
                    return outcome
                logger.warning(
                    "%s: %s (attempt %d); retrying in %.1f s", name, error, attempt, wait
                )
                lane.defer(wait)
                continue
            limited = reply.status == 429
            reason = "rate_limited" if limited else _reason(reply.text(), reply.status, url)
            outcome = DeliveryOutcome.of_reply(reply, attempts=attempt, reason=reason)
            if outcome.delivered:
                return outcome
            if not outcome.retryable:
                logger.error("%s: Slack refused the message: %d %s", name, reply.status, reason)
                return outcome
            if limited:
                wait = outcome.retry_after_s if outcome.retry_after_s is not None else 1.0
                if wait > self._max_retry_after_s:
                    logger.warning("%s: rate limited for %.0f s; giving up for now", name, wait)
                    return outcome
            logger.warning(
                "%s: HTTP %d %s (attempt %d); retrying in %.1f s",
                name,
                reply.status,
                reason,
                attempt,
                wait,
            )
            lane.defer(wait)
        return outcome
