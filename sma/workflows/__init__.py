"""Temporal workflows only (deterministic); `all_workflows` is what the sma-workflows worker registers."""


def all_workflows() -> list[type]:
    from sma.workflows.content_pipeline import ContentPipelineWorkflow

    return [ContentPipelineWorkflow]
