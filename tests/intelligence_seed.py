"""Writes a synthetic history into the real tables the way the pipeline and the analytics collector do."""

from __future__ import annotations

from sma.db.engine import Database
from sma.db.tables import PipelineRun, Project
from sma.db.tables_llm import ScriptAttempt
from sma.db.tables_publishing import PostMetric
from sma.models.intelligence import PostPerformance
from sma.models.pipeline import Beat, PipelineStatus, RunState, Script, StepStatus, Visual


def script_for(post: PostPerformance) -> Script:
    """A script whose narration, visuals and style give back the post's features."""
    f = post.features
    words = max(8, round(f.words_per_minute * f.length_s / 60))
    kinds = [k for k, on in (("code", f.has_code), ("diagram", f.has_diagram), ("image", f.has_image)) if on]
    beats = [Beat(narration="word " * 4, visual=Visual(kind=k)) for k in kinds]  # type: ignore[arg-type]
    beats.append(Beat(narration="word " * (words - 2 - 4 * len(kinds))))
    return Script(title=f.topic, hook="Hook sentence.", hook_style=f.hook_style, beats=beats,  # type: ignore[arg-type]
                  estimated_seconds=f.length_s)


async def seed(database: Database, project_id: str, posts: list[PostPerformance]) -> None:
    async with database.session() as session:
        if await session.get(Project, project_id) is None:
            session.add(Project(id=project_id))
            await session.flush()  # the runs' foreign key needs the project row first
        for post in posts:
            status = PipelineStatus(workflow_id=post.run_id, project_id=project_id, item_id=post.run_id,
                                    state=RunState.PUBLISHED, title=post.title,
                                    steps={"music": StepStatus(name="music", tier=post.features.music_tier)})
            session.add(PipelineRun(id=post.run_id, project_id=project_id, title=post.title, state="published",
                                    status_json=status.model_dump_json()))
            session.add(ScriptAttempt(project_id=project_id, run_id=post.run_id, passed=True, tier="template",
                                      script_json=script_for(post).model_dump_json(), qa_json="{}"))
            session.add(PostMetric(project_id=project_id, run_id=post.run_id, platform=post.platform,
                                   checkpoint=post.checkpoint or "24h", hours=24, published_at=post.published_at,
                                   viral_score=post.viral_score, views=1000))
        await session.commit()
