"""Optional OpenTelemetry tracing through the Temporal SDK's contrib interceptor.

With `metrics.tracing: true` every client this process opens carries `TracingInterceptor`, so starting a
run, each workflow task and each activity become spans of one trace; workers built from that client
inherit it. Spans go to the global tracer provider: with `metrics.otlp_endpoint` set, an OTLP/HTTP
exporter is installed on it (pip install 'sma[otel]'); a host application may install its own instead.
"""

from __future__ import annotations

from typing import Any

from sma.settings import ConfigError, Settings

_configured = False


def interceptors(settings: Settings | None) -> list[Any]:
    """The client interceptors tracing needs ([] when off)."""
    if settings is None or not settings.metrics.tracing:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise ConfigError("metrics.tracing: OpenTelemetry is not installed; run pip install 'sma[otel]' "
                          "or set metrics.tracing: false") from None
    _export(settings)
    return [TracingInterceptor()]


def _export(settings: Settings) -> None:
    global _configured
    endpoint = settings.metrics.otlp_endpoint
    if _configured or not endpoint:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError("metrics.otlp_endpoint: the OTLP exporter is not installed; run "
                          "pip install 'sma[otel]' or leave metrics.otlp_endpoint empty") from None
    provider = TracerProvider(resource=Resource.create({"service.name": "sma"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True
