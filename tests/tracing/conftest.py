"""Spans collected in memory: one SDK tracer provider for the session, switched on per test.

OpenTelemetry lets a process set its global tracer provider once. The one set here makes real
SDK spans (exported to an in-memory collector) only while a test holds the ``spans`` fixture;
the rest of the time its tracer is the API's no-op tracer, as without any provider: no span
is recorded, nothing piles up in memory, and events carry no ``traceparent`` unless a trace
context was handed in. (The "no provider at all" case runs in a fresh interpreter:
test_untraced.py.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tests.flows.conftest import jetstream_publisher, memory_publisher
from tests.runtime.conftest import feed, plane

__all__ = (
    "SpanCollector",
    "feed",
    "jetstream_publisher",
    "memory_publisher",
    "parent_id",
    "plane",
    "span_id",
    "trace_id",
    "traceparent",
)


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def traceparent(span: ReadableSpan) -> str:
    """The ``traceparent`` naming ``span``."""
    assert span.context is not None
    return f"00-{trace_id(span)}-{span_id(span)}-{span.context.trace_flags:02x}"


def parent_id(span: ReadableSpan) -> str | None:
    return f"{span.parent.span_id:016x}" if span.parent is not None else None


class SpanCollector(SpanExporter):
    """Finished spans, in the order they ended; ``wait_for`` blocks until a condition holds."""

    def __init__(self) -> None:
        self._spans: list[ReadableSpan] = []
        self._changed = threading.Condition()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()
        return SpanExportResult.SUCCESS

    def clear(self) -> None:
        with self._changed:
            self._spans.clear()

    @property
    def finished(self) -> list[ReadableSpan]:
        with self._changed:
            return list(self._spans)

    def named(self, prefix: str) -> list[ReadableSpan]:
        """The finished spans whose name starts with ``prefix``."""
        return [s for s in self.finished if s.name.startswith(prefix)]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.finished if s.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {self.finished}"
        return found[0]

    def wait_for(self, done: Callable[[list[ReadableSpan]], bool], timeout_s: float = 30) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: done(self._spans), timeout_s):
                names = [s.name for s in self._spans]
                raise TimeoutError(f"spans never met the condition; finished: {names}")


class _SwitchedTracer(trace.Tracer):
    """The SDK's tracer while collecting, else the API's no-op tracer (whose spans only pass
    on a parent's context)."""

    def __init__(self, switch: _Switch, real: trace.Tracer) -> None:
        self._switch = switch
        self._real = real

    def _tracer(self) -> trace.Tracer:
        return self._real if self._switch.on else _NO_OP

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


_NO_OP = trace.NoOpTracer()


class _Switch(trace.TracerProvider):
    def __init__(self) -> None:
        self.on = False
        self.collector = SpanCollector()
        self._sdk = TracerProvider()
        self._sdk.add_span_processor(SimpleSpanProcessor(self.collector))

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwitchedTracer(self, self._sdk.get_tracer(*args, **kwargs))


@pytest.fixture(scope="session")
def _switch() -> _Switch:
    switch = _Switch()
    trace.set_tracer_provider(switch)
    assert trace.get_tracer_provider() is switch, "another tracer provider was set first"
    return switch


@pytest.fixture
def spans(_switch: _Switch) -> Iterator[SpanCollector]:
    """Spans are made and collected during the test."""
    _switch.collector.clear()
    _switch.on = True
    try:
        yield _switch.collector
    finally:
        _switch.on = False
        _switch.collector.clear()
