"""What became of one delivery: the value senders return and actions record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from proctor.core.errors import DeliveryError

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
