"""What became of one delivery: the value senders return and actions record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from proctor.core.errors import DeliveryError

if TYPE_CHECKING:
    from proctor.automations.delivery.client import HttpReply

__all__ = ("DeliveryOutcome",)


class DeliveryOutcome(BaseModel):
    """The result of sending one message. Never holds the destination URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivered: bool = Field(description="The receiver accepted the message (2xx).")
    reason: str = Field(
        description="'ok', the receiver's word ('no_team'), or ours ('timeout', 'http_500')."
    )
    status: int | None = Field(default=None, description="Last HTTP status, if one came back.")
    attempts: int = Field(
        default=1, ge=0, description="Attempts made (0: refused before trying, e.g. the URL)."
    )
    retryable: bool = Field(
        default=False, description="Not delivered, but trying again later may succeed."
    )
    retry_after_s: float | None = Field(
        default=None, description="How long the receiver asked us to wait before trying again."
    )
    detail: str | None = Field(
        default=None, description="The start of the receiver's answer (at most 200 characters)."
    )
    duplicate: bool = Field(
        default=False, description="Already delivered under this idempotency key: not re-sent."
    )

    @classmethod
    def of_reply(
        cls,
        reply: HttpReply,
        *,
        attempts: int = 1,
        reason: str | None = None,
        detail: str | None = None,
    ) -> DeliveryOutcome:
        """The outcome of an answer: delivered on 2xx; otherwise ``reason`` (default
        ``http_<status>``), retryable on 408, 429 and 5xx with the receiver's Retry-After."""
        status = reply.status
        if 200 <= status < 300:
            return cls(delivered=True, reason="ok", status=status, attempts=attempts)
        retryable = status >= 500 or status in (408, 429)
        return cls(
            delivered=False,
            reason=reason or f"http_{status}",
            status=status,
            attempts=attempts,
            retryable=retryable,
            retry_after_s=_retry_after(reply) if retryable else None,
            detail=detail,
        )

    @classmethod
    def of_error(cls, error: DeliveryError, *, attempts: int = 1) -> DeliveryOutcome:
        """The outcome of a request that got no answer; a refused destination or an invalid
        URL means the attempt sent nothing."""
        refused = error.reason in ("invalid_url", "destination_refused")
        return cls(
            delivered=False,
            reason=error.reason,
            attempts=attempts - 1 if refused else attempts,
            retryable=error.retryable,
            detail=str(error)[:200],
        )

    def raise_for_failure(self) -> DeliveryOutcome:
        """Return ``self`` if delivered, else raise ``DeliveryError`` carrying the reason."""
        if self.delivered:
            return self
        status = f" (HTTP {self.status})" if self.status is not None else ""
        after = "; retryable" if self.retryable else "; not retryable"
        raise DeliveryError(
            f"not delivered after {self.attempts} attempt(s): {self.reason}{status}{after}",
            reason=self.reason,
            status=self.status,
            retryable=self.retryable,
        )


def _retry_after(reply: HttpReply) -> float | None:
    try:
        return max(0.0, float(reply.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
