"""Setting up the OpenTelemetry SDK in Proctor's processes from the standard environment.

``configure_tracing(service)`` runs when the server, a service, a worker or a run's process
starts. It sets a tracer provider only when the user asked for traces (``OTEL_TRACES_EXPORTER``
other than ``none``, or an OTLP endpoint: ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), ``OTEL_SDK_DISABLED`` is not ``true``, and the program
has not set a provider of its own. It needs the SDK (``pip install 'proctor[otel]'``); without
it, it logs a warning and Proctor runs untraced.

Everything else is the SDK's own environment: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the ``service`` given here is only the default name),
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*`` for batching, ``OTEL_EXPORTER_OTLP_*`` for the exporter.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

from proctor.core.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ("EXPORTER_ENV", "configure_tracing", "flush_tracing", "wanted_exporters")

log = logging.getLogger(__name__)

EXPORTER_ENV: Final = "OTEL_TRACES_EXPORTER"
_ENDPOINT_ENVS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_ENVS: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_EXPORTER_GROUP: Final = "opentelemetry_traces_exporter"


def wanted_exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters ``environ`` asks for (empty: tracing stays off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = environ.get(EXPORTER_ENV)
    if names is None:
        return ["otlp"] if any(environ.get(name) for name in _ENDPOINT_ENVS) else []
    wanted = [name.strip().lower() for name in names.split(",") if name.strip()]
    return [name for name in wanted if name != "none"]


def configure_tracing(
    service: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Set an SDK tracer provider exporting as ``environ`` (default ``os.environ``) asks; the
    provider, or ``None`` when tracing stays off or the program set a provider already.

    ``ConfigurationError`` naming ``OTEL_TRACES_EXPORTER`` for an exporter that is not
    installed.
    """
    environ = os.environ if environ is None else environ
    names = wanted_exporters(environ)
    if not names:
        return None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "%s asks for traces, but the OpenTelemetry SDK is not installed: "
            "pip install 'proctor[otel]' (running untraced)",
            EXPORTER_ENV if EXPORTER_ENV in environ else "OTEL_EXPORTER_OTLP_ENDPOINT",
        )
        return None
    exporters = [_exporter(name, environ) for name in names]
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None  # the program set one: it decides where spans go
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    trace.set_tracer_provider(provider)
    service_name = resource.attributes.get(SERVICE_NAME)
    log.info("tracing on: service %s, exporting to %s", service_name, ", ".join(names))
    return provider


def _exporter(name: str, environ: Mapping[str, str]) -> Callable[[], Any]:
    """The span exporter class of an ``OTEL_TRACES_EXPORTER`` name (``otlp`` picks the
    protocol from ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``, HTTP by default)."""
    entry = name
    if name == "otlp":
        protocol = next((environ[n] for n in _PROTOCOL_ENVS if environ.get(n)), "http/protobuf")
        entry = "otlp_proto_grpc" if protocol.strip().lower() == "grpc" else "otlp_proto_http"
    found = importlib.metadata.entry_points(group=_EXPORTER_GROUP, name=entry)
    if not found:
        installed = sorted(e.name for e in importlib.metadata.entry_points(group=_EXPORTER_GROUP))
        raise ConfigurationError(
            f"{EXPORTER_ENV}: no span exporter {name!r} ({entry}) is installed (installed: "
            f"{', '.join(installed) or 'none'}); for OTLP: pip install 'proctor[otel]' (HTTP) "
            "or opentelemetry-exporter-otlp-proto-grpc",
            setting=EXPORTER_ENV,
        )
    exporter: Callable[[], Any] = next(iter(found)).load()
    return exporter


def flush_tracing(timeout_s: float = 5.0) -> None:
    """Export the spans still buffered (a process about to ``os._exit`` calls this)."""
    provider: Any = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if flush is not None:
        flush(int(timeout_s * 1000))
