"""Steps 1 and 2: media analysis and script writing (queue sma-workflows)."""

from __future__ import annotations

import time

from temporalio import activity

from sma.models.pipeline import MediaAnalysis, MediaRequest, ScriptRequest, ScriptResult
from sma.services.qa_script import check_script
from sma.services.scriptwriter import ScriptWriter
from sma.settings import Settings


class ScriptActivities:
    def __init__(self, settings: Settings, writer: ScriptWriter) -> None:
        self.settings = settings
        self.writer = writer

    @activity.defn(name="analyse_media")
    async def analyse_media(self, req: MediaRequest) -> MediaAnalysis:
        """Vision analysis arrives with the LLM gateway; without media (or a vision provider) it is skipped."""
        if not req.media:
            return MediaAnalysis(skipped=True, tier="none", notes=["no media sent with this run"])
        return MediaAnalysis(skipped=True, tier="none", notes=["no vision provider configured"])

    @activity.defn(name="write_script")
    async def write_script(self, req: ScriptRequest) -> ScriptResult:
        started = time.perf_counter()
        project = self.settings.project(req.project_id)
        script = self.writer.write(req, project)
        qa = check_script(script, project, self.settings.pipeline)
        return ScriptResult(
            script=script,
            qa=qa,
            feedback_used=[*req.feedback, *req.qa_feedback],
            tier=self.writer.name,
            seconds=round(time.perf_counter() - started, 3),
        )


def build(settings: Settings, database: object) -> list:
    """The activities this module contributes to the sma-workflows worker."""
    from sma.services.scriptwriter import TemplateScriptWriter

    acts = ScriptActivities(settings, TemplateScriptWriter(settings.pipeline))
    return [acts.analyse_media, acts.write_script]
