"""The content pipeline workflow: `workflow` (the steps in order), `steps` (how each activity runs),
`approval` (step 10), `status` (the run's status and its database copy)."""

from sma.workflows.pipeline.workflow import ContentPipelineWorkflow

WORKFLOWS: list[type] = [ContentPipelineWorkflow]

__all__ = ["WORKFLOWS", "ContentPipelineWorkflow"]
