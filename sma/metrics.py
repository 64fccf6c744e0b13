"""Prometheus metrics: SMA's own, beside the Temporal SDK's runtime metrics.

Every long-running process (the three worker pools, the bot, the dashboard) serves its metrics on its own
port when `metrics.enabled`: `metrics.port` plus the role's offset for SMA's metrics, `metrics.sdk_port`
plus the same offset for the SDK's (workflow/activity task latencies, poll counts, sticky cache). On one
host (`sma up`) the offsets keep the processes apart; in compose each container uses the base ports.

What each metric answers for an operator:
- `sma_step_duration_seconds{step,outcome}`: how long each activity (pipeline step) takes, and fails.
- `sma_qa_reports_total{gate,result}`: which QA gate rejects videos.
- `sma_publish_total{platform,status}`: which network fails to publish.
- `sma_provider_calls_total{kind,provider,outcome}` / `sma_provider_spend_usd_total{kind,provider}`:
  LLM and TTS calls, their errors and their cost.
- `sma_runs{state}` and `sma_task_queue_backlog{queue}`: runs by state and work waiting per queue (kept by
  the dashboard process, which reads both the database and Temporal).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

    from sma.settings import Settings

# Port offsets per process role, so all of `sma up` fits on one host.
ROLE_OFFSET = {"sma-workflows": 0, "sma-cpu": 1, "sma-gpu": 2, "bot": 3, "dashboard": 4}

REGISTRY = CollectorRegistry(auto_describe=True)
STEP_SECONDS = Histogram(
    "sma_step_duration_seconds", "Activity (pipeline step) run time", ["step", "outcome"], registry=REGISTRY,
    buckets=(0.05, 0.25, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800))
QA_REPORTS = Counter("sma_qa_reports_total", "QA gate results", ["gate", "result"], registry=REGISTRY)
PUBLISHES = Counter("sma_publish_total", "Publish outcomes per platform", ["platform", "status"],
                    registry=REGISTRY)
PROVIDER_CALLS = Counter("sma_provider_calls_total", "Calls to external or local providers",
                         ["kind", "provider", "outcome"], registry=REGISTRY)
PROVIDER_SPEND = Counter("sma_provider_spend_usd_total", "Estimated provider spend in USD", ["kind", "provider"],
                         registry=REGISTRY)
RUNS = Gauge("sma_runs", "Content pipeline runs by state", ["state"], registry=REGISTRY)
BACKLOG = Gauge("sma_task_queue_backlog", "Approximate tasks waiting on a task queue", ["queue", "kind"],
                registry=REGISTRY)



@dataclass
class _Served:
    """What this process has started: one HTTP server and one SDK runtime at most."""

    port: int | None = None
    runtime: Runtime | None = None


_served = _Served()
_lock = threading.Lock()


def provider_call(kind: str, provider: str, outcome: str, cost_usd: float = 0.0) -> None:
    PROVIDER_CALLS.labels(kind, provider, outcome).inc()
    if cost_usd > 0:
        PROVIDER_SPEND.labels(kind, provider).inc(cost_usd)


def set_runs(counts: dict[str, int]) -> None:
    """Replace the per-state run counts (a state that emptied drops to 0, not to a stale number)."""
    for state in {*counts, *(_label_values(RUNS))}:
        RUNS.labels(state).set(counts.get(state, 0))


def _label_values(gauge: Gauge) -> set[str]:
    return {sample.labels["state"] for metric in gauge.collect() for sample in metric.samples}


def start(settings: Settings, role: str) -> int | None:
    """Serve this process's metrics (once); the port, or None when metrics are off."""
    config = settings.metrics
    if not config.enabled:
        return None
    with _lock:
        if _served.port is None:
            port = config.port + ROLE_OFFSET.get(role, 0)
            start_http_server(port, addr=config.host, registry=REGISTRY)
            _served.port = port
    return _served.port


def sdk_runtime(settings: Settings, role: str) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics in Prometheus format; one per process."""
    config = settings.metrics
    if not config.enabled:
        return None
    with _lock:
        if _served.runtime is None:
            from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

            address = f"{config.host}:{config.sdk_port + ROLE_OFFSET.get(role, 0)}"
            _served.runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    return _served.runtime
