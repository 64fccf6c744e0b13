"""Task queue names: the one place that defines them (DESIGN.md convention 5).

A worker pool may run under suffixed queues (``sma-cpu-t1`` beside ``sma-workflows-t1``), which is how tests
isolate their workers on one shared dev server. The suffix belongs to the worker and the client that start
work, never to a business input: a workflow finds its pool's suffix in its own task queue.
"""

from temporalio import workflow

WORKFLOWS = "sma-workflows"
CPU = "sma-cpu"
GPU = "sma-gpu"

ALL = (WORKFLOWS, CPU, GPU)


def suffix_of(task_queue: str) -> str:
    """What ``task_queue`` carries beyond its base queue name ('' for the plain names)."""
    for base in ALL:
        if task_queue.startswith(base):
            return task_queue[len(base):]
    return ""


def in_pool(queue: str) -> str:
    """``queue`` in the calling workflow's worker pool; call only from workflow code."""
    return queue + suffix_of(workflow.info().task_queue)
