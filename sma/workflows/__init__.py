"""Temporal workflows only (deterministic); `all_workflows` is what the sma-workflows worker registers."""

import importlib

# Each module lists its workflow classes in `WORKFLOWS`.
WORKFLOW_MODULES = ("pipeline", "analytics", "trends", "scheduler", "intelligence")


def all_workflows() -> list[type]:
    classes: list[type] = []
    for name in WORKFLOW_MODULES:
        classes += importlib.import_module(f"sma.workflows.{name}").WORKFLOWS
    return classes
