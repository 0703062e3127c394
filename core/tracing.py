"""OpenTelemetry traces: Proctor's tracer, and trace context carried on events as W3C
``traceparent`` strings.

Proctor depends on ``opentelemetry-api`` only. Until a program (or ``configure_tracing`` in
``proctor.core.tracing_setup``) sets an SDK tracer provider, ``tracer()`` is ``None`` and
Proctor makes no span at all: hot paths test one reference. Whatever the provider, a valid
span context that is current when an event is made rides on the event as its
``traceparent``, so a consumer in another process continues the same trace.

Span and attribute names are listed in docs/observability.md ("Traces").
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
from collections.abc import Iterator, Mapping
from contextvars import Token
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

__all__ = (
    "TRACEPARENT_PATTERN",
    "TRACER_NAME",
    "Attributes",
    "attach_span",
    "check_traceparent",
    "current_traceparent",
    "detach_span",
    "mark_error",
    "parent_context",
    "traced",
    "traceparent_of",
    "tracer",
    "using_span",
)

TRACER_NAME: Final = "proctor"
"""The instrumentation scope of every Proctor span."""

Attributes = Mapping[str, AttributeValue]

TRACEPARENT_PATTERN: Final = r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$"
"""The shape of a ``traceparent`` (``check_traceparent`` also refuses the invalid values)."""

_TRACEPARENT: Final = re.compile(TRACEPARENT_PATTERN)
_FORMAT: Final = "'00-<32 hex digits: trace id>-<16 hex digits: span id>-<2 hex digits: flags>'"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_NO_TRACER: Final = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)

_cached: tuple[trace.TracerProvider, Tracer] | None = None


def check_traceparent(value: str) -> str:
    """``value`` if it is a W3C ``traceparent`` (trace context level 1), else ``ValueError``
    saying what is expected."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        raise ValueError(f"{value[:80]!r} is not a W3C traceparent: expected {_FORMAT}, lowercase")
    version, trace_id, span_id, _, rest = match.groups()
    if version == "ff":
        raise ValueError(f"{value[:80]!r}: version ff is invalid")
    if version == "00" and rest is not None:
        raise ValueError(f"{value[:80]!r}: a version 00 traceparent has four parts, {_FORMAT}")
    if trace_id == "0" * 32 or span_id == "0" * 16:
        raise ValueError(f"{value[:80]!r}: the trace id and the span id must not be all zeros")
    return value


def tracer() -> Tracer | None:
    """Proctor's tracer, or ``None`` while no SDK tracer provider is set (then no spans)."""
    global _cached
    provider = trace.get_tracer_provider()
    if isinstance(provider, _NO_TRACER):
        return None
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    made = provider.get_tracer(TRACER_NAME, _version())
    _cached = (provider, made)
    return made


def _version() -> str | None:
    try:
        return importlib.metadata.version("proctor")
    except importlib.metadata.PackageNotFoundError:
        return None


def traceparent_of(span: Span) -> str | None:
    """The ``traceparent`` naming ``span`` as the parent, or ``None`` if its context is
    invalid (a non-recording span outside any trace)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span current here, or ``None`` outside any trace."""
    return traceparent_of(trace.get_current_span())


def parent_context(traceparent: str | None) -> otel_context.Context | None:
    """A context whose current span is the remote one ``traceparent`` names (``None``: none
    given, so a span started with it takes the current context as its parent)."""
    if traceparent is None:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


def mark_error(span: Span, description: str, error_type: str | None = None) -> None:
    """Set ``span``'s status to error, with ``error.type``. ``description`` must hold no
    secret: a state name, an exception's type, an ``ActionError``'s message (secret-free by
    contract), never another exception's message (an HTTP client's holds the URL)."""
    span.set_status(StatusCode.ERROR, description)
    if error_type is not None:
        span.set_attribute("error.type", error_type)


def attach_span(span: Span) -> Token[otel_context.Context]:
    """Make ``span`` current (without ending it) until ``detach_span`` of what this returns."""
    return otel_context.attach(trace.set_span_in_context(span))


def detach_span(token: Token[otel_context.Context]) -> None:
    otel_context.detach(token)


@contextlib.contextmanager
def using_span(span: Span) -> Iterator[None]:
    """Make ``span`` current within the block (without ending it)."""
    token = attach_span(span)
    try:
        yield
    finally:
        detach_span(token)


@contextlib.contextmanager
def traced(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    parent: str | None = None,
) -> Iterator[Span | None]:
    """A span around the block, current within it, ended after it; ``None`` when tracing is
    off. ``parent``: a ``traceparent`` to continue (default: the current span). An exception
    leaving the block marks the span as an error with the exception's type.

    Untraced, the ``parent`` context is still made current within the block, so what the
    block produces (events, run requests) carries it on.
    """
    found = tracer()
    context = parent_context(parent)
    if found is None:
        token = otel_context.attach(context) if context is not None else None
        try:
            yield None
        finally:
            if token is not None:
                otel_context.detach(token)
        return
    span = found.start_span(name, context, kind, attributes)
    try:
        with using_span(span):
            yield span
    except BaseException as error:
        mark_error(span, type(error).__name__, type(error).__qualname__)
        raise
    finally:
        span.end()
