"""Prometheus metrics and tracing, on a real worker and the dev server: step durations, QA and publish
counts read from results, provider calls, runs by state, queue backlog, the SDK's own metrics, spans."""

from __future__ import annotations

import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from sma import metrics, queues, tracing
from sma.activities.observe import MetricsInterceptor
from sma.db.engine import Database
from sma.db.tables import PipelineRun, Project
from sma.models.common import QAReport
from sma.models.pipeline import PostResult
from sma.services import fleet_metrics
from sma.settings import ConfigError, Settings
from sma.temporal_client import connect
from tests.s3_server import free_port


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@activity.defn(name="qa_and_publish_probe")
def qa_and_publish_probe(_: str) -> dict[str, list]:
    return {"qa": [QAReport(gate="QA_PROBE", passed=False), QAReport(gate="QA_PROBE", passed=True)],
            "posts": [PostResult(platform="probe-net", status="published")]}


@workflow.defn(name="MetricsProbeWorkflow", sandboxed=False)
class MetricsProbeWorkflow:
    @workflow.run
    async def run(self, arg: str) -> None:
        await workflow.execute_activity(qa_and_publish_probe, arg, start_to_close_timeout=timedelta(seconds=30))


async def run_probe(client: Client, interceptors: list | None = None) -> None:
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[MetricsProbeWorkflow], activities=[qa_and_publish_probe],
                      activity_executor=ThreadPoolExecutor(2), interceptors=interceptors or [MetricsInterceptor()]):
        await client.execute_workflow(MetricsProbeWorkflow.run, "x", id=f"probe-{uuid.uuid4().hex}", task_queue=queue)


async def test_a_step_is_timed_and_its_qa_and_publish_results_counted(client: Client) -> None:
    before = (value("sma_qa_reports_total", gate="QA_PROBE", result="fail"),
              value("sma_publish_total", platform="probe-net", status="published"),
              value("sma_step_duration_seconds_count", step="qa_and_publish_probe", outcome="ok"))

    await run_probe(client)

    assert value("sma_qa_reports_total", gate="QA_PROBE", result="fail") == before[0] + 1
    assert value("sma_qa_reports_total", gate="QA_PROBE", result="pass") >= 1
    assert value("sma_publish_total", platform="probe-net", status="published") == before[1] + 1
    assert value("sma_step_duration_seconds_count", step="qa_and_publish_probe", outcome="ok") == before[2] + 1


def test_provider_calls_and_spend_are_counted() -> None:
    metrics.provider_call("llm", "probe-llm", "ok", 0.25)
    metrics.provider_call("llm", "probe-llm", "error")
    assert value("sma_provider_calls_total", kind="llm", provider="probe-llm", outcome="error") == 1
    assert value("sma_provider_spend_usd_total", kind="llm", provider="probe-llm") == pytest.approx(0.25)


async def test_runs_by_state_and_queue_backlog(client: Client, database: Database) -> None:
    async with database.session() as session, session.begin():
        session.add(Project(id="m", name="m"))
        await session.flush()
        for i, state in enumerate(["published", "published", "awaiting_approval"]):
            session.add(PipelineRun(id=f"content-m-{i}", project_id="m", state=state))
    suffix = f"-m{uuid.uuid4().hex[:6]}"
    for _ in range(2):  # two runs waiting on a workflows queue nobody polls
        await client.start_workflow("MetricsProbeWorkflow", "x", id=f"wait-{uuid.uuid4().hex}",
                                    task_queue=queues.WORKFLOWS + suffix)

    await fleet_metrics.refresh(database, client, suffix)

    assert value("sma_runs", state="published") == 2
    assert value("sma_runs", state="awaiting_approval") == 1
    assert value("sma_task_queue_backlog", queue=queues.WORKFLOWS, kind="workflow") >= 1


def test_a_process_serves_its_metrics_on_its_roles_port(tmp_path: Path) -> None:
    base = free_port()
    settings = Settings(data_dir=tmp_path, metrics={"enabled": True, "port": base - 1, "sdk_port": free_port()})
    port = metrics.start(settings, "sma-cpu")  # offset 1

    assert port == base
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "sma_step_duration_seconds" in text and "sma_provider_calls_total" in text
    assert metrics.start(Settings(data_dir=tmp_path), "bot") is None  # off by default


async def test_the_sdk_exports_its_runtime_metrics(client: Client, tmp_path: Path) -> None:
    sdk_port = free_port()
    settings = Settings(data_dir=tmp_path, metrics={"enabled": True, "sdk_port": sdk_port, "port": free_port()})
    target = client.service_client.config.target_host
    with_metrics = await connect(target, settings=settings, role="sma-workflows")
    await run_probe(with_metrics)

    text = urllib.request.urlopen(f"http://127.0.0.1:{sdk_port}/metrics", timeout=5).read().decode()
    assert "temporal_request" in text or "temporal_workflow_completed" in text


def test_tracing_needs_opentelemetry_and_says_how_to_get_it(tmp_path: Path) -> None:
    on = Settings(data_dir=tmp_path, metrics={"tracing": True})
    try:
        import opentelemetry  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="sma\\[otel\\]"):
            tracing.interceptors(on)
        return
    assert [type(i).__name__ for i in tracing.interceptors(on)] == ["TracingInterceptor"]
    assert tracing.interceptors(Settings(data_dir=tmp_path)) == []


async def test_a_traced_run_makes_workflow_and_activity_spans(client: Client, tmp_path: Path) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    settings = Settings(data_dir=tmp_path, metrics={"tracing": True})
    traced = await connect(client.service_client.config.target_host, settings=settings)

    await run_probe(traced, interceptors=[MetricsInterceptor()])

    names = {span.name for span in exporter.get_finished_spans()}
    assert any(n.startswith("StartWorkflow:MetricsProbeWorkflow") for n in names), names
    assert any(n.startswith("RunActivity:qa_and_publish_probe") for n in names), names


def test_the_grafana_dashboard_reads_only_metrics_that_exist() -> None:
    import json
    import re

    board = json.loads((Path(__file__).parent.parent / "deploy" / "grafana" / "sma.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(sma_[a-z_]+?)(?:_bucket|_count|_sum)?\b", e)}
    defined = {metric.name for metric in metrics.REGISTRY.collect()}
    assert used and used <= defined | {n + "_total" for n in defined}, used - defined
