"""The one place that connects to Temporal (DESIGN.md convention 3), always with the pydantic converter."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sma.settings import Settings


async def connect(address: str, namespace: str = "default", attempts: int = 1, delay: float = 0.5) -> Client:
    """Connect, retrying while a server that was just started comes up."""
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
        except RuntimeError:
            if attempt == attempts:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def client_for(settings: Settings, attempts: int = 1) -> Client:
    return await connect(settings.temporal_address, settings.temporal.namespace, attempts=attempts)


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
