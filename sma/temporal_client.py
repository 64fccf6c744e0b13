"""The one place that connects to Temporal (DESIGN.md convention 3), always with the pydantic converter.

A cluster at `temporal.address` may want TLS, a client certificate (mTLS) and an API key: `connect_options`
turns `temporal.tls` and `secrets.temporal_api_key` into `Client.connect`'s keywords. The embedded dev
server listens on loopback without either. The options hold the key and the private key: never log them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from sma import metrics, tracing
from sma.settings import ConfigError, Settings


def _pem(path: Path | None, key: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"temporal.tls.{key}: cannot read {path} ({exc.strerror}); "
                          "point it at a readable PEM file or leave it empty") from None


def connect_options(settings: Settings | None) -> dict[str, Any]:
    """`Client.connect` keywords for TLS and the API key; none for the embedded dev server."""
    if settings is None or settings.embedded_temporal:
        return {}
    tls, key = settings.temporal.tls, settings.secrets.temporal_api_key
    options: dict[str, Any] = {}
    if key is not None:
        options["api_key"] = key.get_secret_value()
    wanted = tls.enabled if tls.enabled is not None else bool(
        key or tls.client_cert or tls.server_ca or tls.server_name)
    options["tls"] = TLSConfig(
        server_root_ca_cert=_pem(tls.server_ca, "server_ca"), domain=tls.server_name,
        client_cert=_pem(tls.client_cert, "client_cert"),
        client_private_key=_pem(tls.client_key, "client_key"),
    ) if wanted else False
    return options


async def connect(address: str, namespace: str = "default", attempts: int = 1, delay: float = 0.5,
                  settings: Settings | None = None, role: str | None = None) -> Client:
    """Connect, retrying while a server that was just started comes up. With `settings`, a configured
    cluster gets its TLS and API key (`connect_options`), and tracing its interceptor; with a process
    `role` too, the SDK's metrics are exported (sma.metrics)."""
    options = connect_options(settings)
    options["interceptors"] = tracing.interceptors(settings)
    runtime = metrics.sdk_runtime(settings, role) if settings is not None and role is not None else None
    if runtime is not None:
        options["runtime"] = runtime
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter,
                                        **options)
        except RuntimeError:
            if attempt == attempts:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def client_for(settings: Settings, attempts: int = 1, role: str | None = None) -> Client:
    return await connect(settings.temporal_address, settings.temporal.namespace, attempts=attempts,
                         settings=settings, role=role)


async def pollers(client: Client, task_queue: str, workflow_queue: bool = False) -> int:
    """How many workers poll a task queue right now (for readiness and health checks)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflow_queue else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                 task_queue_type=kind))
    return len(response.pollers)


async def backlog(client: Client, task_queue: str, workflow_queue: bool = False) -> int:
    """Tasks waiting on a task queue (the server's approximate count), for the backlog metric."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflow_queue else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                 task_queue_type=kind, report_stats=True))
    return int(response.stats.approximate_backlog_count)


async def wait_for_pollers(client: Client, task_queues: list[str], timeout: float = 120.0) -> None:
    """Return once every queue has a worker polling it, so the first task is not left waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    missing = list(task_queues)
    while missing:
        missing = [q for q in missing if not await pollers(client, q)]
        if not missing:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"no worker polls {', '.join(missing)} after {timeout:.0f} s; see data/logs/")
        await asyncio.sleep(0.25)
