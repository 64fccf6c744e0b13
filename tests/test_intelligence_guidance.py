"""The offline template tier honours insights: deterministic per topic, in proportion to confidence, never
over a human's or QA's word; and the audience fingerprint reaches the posting optimizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sma.models.pipeline import ScriptRequest, Topic
from sma.services.intelligence.analysis import Analyser
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.fingerprint import FingerprintHours
from sma.services.intelligence.guidance import HookPreference, StaticGuidance, pick, use_preferred
from sma.services.intelligence.reports import ReportStore
from sma.services.llm.config import ScriptQASettings
from sma.services.script.template import TemplateScriptWriter
from sma.settings import PipelineSettings, ProjectSettings
from tests.intelligence_sim import history

PROJECT = ProjectSettings(id="p", niche="developer tools", platforms=["tiktok", "youtube"])
TOPICS = [Topic(title=f"Small habit number {word} for calmer releases",
                summary="Release on a fixed day. Write the notes first. Roll back without drama.")
          for word in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten") * 10]
TOPICS = [t.model_copy(update={"title": f"{t.title} {i}x"}) for i, t in enumerate(TOPICS)]
STORY = HookPreference(platform="tiktok", style="story", p_best=0.99, lift=2.0, text="On tiktok, story hooks ...")


def _writer(*preferences: HookPreference, exploit_max: float = 0.8) -> TemplateScriptWriter:
    return TemplateScriptWriter(PipelineSettings(target_seconds=20), ScriptQASettings(), StaticGuidance(list(
        preferences)), exploit_max)


def _styles(writer: TemplateScriptWriter, platforms: list[str], **req: object) -> list[str]:
    return [writer.write(ScriptRequest(project_id="p", run_id="r", topic=t, platforms=platforms, **req),  # type: ignore[arg-type]
                         PROJECT).hook_style for t in TOPICS]


def test_preferred_style_share_follows_confidence_and_is_deterministic() -> None:
    never_story = _styles(_writer(), ["tiktok"])
    assert "story" not in never_story  # the base template never picks story on its own
    sure = _styles(_writer(STORY), ["tiktok"])
    unsure = _styles(_writer(HookPreference("tiktok", "story", 0.3, 1.4, "t")), ["tiktok"])
    assert 0.7 <= sure.count("story") / len(TOPICS) <= 0.9  # P(best) 0.99 capped at exploit_max 0.8
    assert 0.15 <= unsure.count("story") / len(TOPICS) <= 0.45  # P(best) 0.3
    assert _styles(_writer(STORY), ["tiktok"]) == sure  # same topics, same choices
    assert _styles(_writer(STORY), ["youtube"]) == never_story  # the insight is TikTok's only
    assert _styles(_writer(STORY, exploit_max=0.0), ["tiktok"]) == never_story


def test_feedback_and_qa_still_win_and_statistic_needs_a_number() -> None:
    writer = _writer(STORY)
    assert set(_styles(writer, ["tiktok"], feedback=["Use a contrarian hook"])) == {"contrarian"}
    first = _styles(writer, ["tiktok"])
    after_weak = _styles(writer, ["tiktok"], qa_feedback=["the hook is weak"])
    assert all(a != b for a, b in zip(first, after_weak, strict=True))  # always another style than last time
    statistic = HookPreference(platform="tiktok", style="statistic", p_best=1.0, lift=2.0, text="t")
    assert "statistic" not in _styles(_writer(statistic), ["tiktok"])  # no number in these topics
    script = writer.write(ScriptRequest(project_id="p", run_id="r", topic=TOPICS[0], platforms=["tiktok"]), PROJECT)
    assert script.memories_used == [STORY.text]


def test_pick_prefers_the_surest_platform_and_draws_are_stable() -> None:
    youtube = HookPreference(platform="youtube", style="how_to", p_best=0.7, lift=1.3, text="y")
    assert pick({"tiktok": STORY, "youtube": youtube}, ["youtube", "tiktok"]) == STORY
    assert pick({"youtube": youtube}, ["tiktok"]) is None
    draws = [use_preferred(STORY, f"topic {i}", 0.5) for i in range(2000)]
    assert 0.45 < sum(draws) / 2000 < 0.55 and draws == [use_preferred(STORY, f"topic {i}", 0.5) for i in range(2000)]


def test_fingerprint_hours_feed_the_optimizer(tmp_path: Path) -> None:
    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    posts = history(5, platforms=("tiktok",))
    boosted = [p.model_copy(update={"viral_score": p.viral_score * (3.0 if p.features.hour in (19, 20) else 1.0)})
               for p in posts]
    report = Analyser(IntelligenceSettings()).analyse("p", boosted, as_of, as_of - timedelta(days=90))
    store = ReportStore(tmp_path)
    store.save(report)
    assert store.load("p") == report
    hours = FingerprintHours(store).default_hours("p", {"tiktok": [12], "youtube": [17]})
    assert set(hours["tiktok"][:2]) == {19, 20} and hours["youtube"] == [17]
    evening = next(fp for fp in report.fingerprints if fp.platform == "tiktok").dayparts[0]
    assert evening.name == "evening" and evening.lift > 1.2
    assert FingerprintHours(store).default_hours("unknown", {"tiktok": [12]}) == {"tiktok": [12]}
