"""The evidence that the loop works, end to end on the product's own wiring (script_services, Mem0):

1. A synthetic history where question hooks truly score twice as well on TikTok (lognormal noise, sd 0.6):
   the run finds it with the right numbers, remembers it in Mem0, and afterwards the OFFLINE template tier
   writes TikTok scripts with question hooks significantly more often than before (YouTube unchanged).
2. The same history with no difference anywhere: no confident insight, nothing remembered, same scripts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sma.models.intelligence import Insight
from sma.models.pipeline import ScriptRequest, Topic
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.guidance import guidance_for
from sma.services.intelligence.history import StaticHistory
from sma.services.intelligence.reports import ReportStore
from sma.services.intelligence.service import IntelligenceService
from sma.services.memory.config import MemorySettings
from sma.services.memory.providers import MemoryContext
from sma.services.memory.service import MemoryService
from sma.services.script.llm import ScriptService
from sma.wiring import script_services
from tests.intelligence_sim import history
from tests.memory_fixtures import new_project, settings_for, shared_backend

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
SUBJECTS = ("caching", "code review", "feature flags", "observability", "pair programming", "type hints",
            "database indexes", "logging", "dependency updates", "retries", "rate limits", "queues")
ANGLES = ("why teams adopt", "common mistakes with", "a calm guide to", "what changes with", "the real cost of")
TOPICS = [Topic(title=f"{angle.capitalize()} {subject}",
                summary=f"Teams keep asking about {subject}. A small change in how you use it saves hours each week. "
                        "Start with one service and measure before and after.")
          for angle in ANGLES for subject in SUBJECTS]  # 60 topics, no digits (no statistic hooks)


def fisher_one_sided(a: int, n1: int, b: int, n2: int) -> float:
    """P(at least `b` successes in group 2 | the margins), the exact test that group 2's rate is higher."""
    total, k = n1 + n2, a + b
    def prob(x: int) -> float:
        return math.comb(n2, x) * math.comb(n1, k - x) / math.comb(total, k)
    return sum(prob(x) for x in range(b, min(k, n2) + 1))


async def _styles(scripts: ScriptService, project_id: str, platform: str) -> list[tuple[str, list[str]]]:
    out = []
    for i, topic in enumerate(TOPICS):
        req = ScriptRequest(project_id=project_id, run_id=f"sim-{i}", topic=topic, platforms=[platform])
        result = await scripts.write(req)
        assert result.tier == "template" and result.qa.passed, result.qa.reasons
        out.append((result.script.hook_style, result.script.memories_used))
    return out


def _service(tmp_path: Path, boost: dict[tuple[str, str], float], seed: int) -> IntelligenceService:
    backend = shared_backend()
    config = IntelligenceSettings(coverage_per_run=10)  # coverage is tested in test_memory; keep this fast
    return IntelligenceService(config, StaticHistory(history(seed, boost=boost)),
                               ReportStore(tmp_path / "reports"), MemoryService(backend),
                               guidance_for(backend, MemorySettings().cache_s))


async def test_a_twice_as_good_hook_is_learned_and_used_by_the_offline_writer(tmp_path: Path) -> None:
    project_id = new_project()
    settings = settings_for(project_id, ["tiktok", "youtube"])
    scripts, _vision = script_services(settings, None)
    before_tiktok = await _styles(scripts, project_id, "tiktok")
    before_youtube = await _styles(scripts, project_id, "youtube")

    service = _service(tmp_path, {("tiktok", "question"): 2.0}, seed=4)
    analysed = await service.analyse(project_id, AS_OF)
    remembered = await service.remember(service_request(project_id, analysed.insights))

    # The insight: right platform, right style, right numbers, and it says how sure it is.
    posts = history(4, boost={("tiktok", "question"): 2.0})
    n_question = sum(p.platform == "tiktok" and p.features.hook_style == "question" for p in posts)
    assert [i.key for i in analysed.insights] == ["hook:tiktok"]
    insight = analysed.insights[0]
    assert (insight.platform, insight.subject, insight.direction, insight.n) == ("tiktok", "question", "better",
                                                                                n_question)
    assert insight.low < 2.0 < insight.high and 1.6 < insight.lift < 2.5
    assert insight.probability > 0.999 and insight.p_best > 0.95
    assert insight.text.startswith(f"On tiktok, question hooks score {insight.lift:.2f}x the other hook styles "
                                   f"(90% credible interval {insight.low:.2f}x-{insight.high:.2f}x; ")
    assert f"{n_question} question posts vs {150 - n_question} others" in insight.text
    assert remembered.added == 1 and remembered.coverage_added == 10
    assert Path(analysed.report_path).is_file()

    # The offline tier now prefers question hooks for TikTok, in proportion to how sure the insight is.
    after_tiktok = await _styles(scripts, project_id, "tiktok")
    after_youtube = await _styles(scripts, project_id, "youtube")
    before = sum(style == "question" for style, _ in before_tiktok)
    after = sum(style == "question" for style, _ in after_tiktok)
    assert after / len(TOPICS) >= 0.7 > 0.5 >= before / len(TOPICS)
    assert fisher_one_sided(before, len(TOPICS), after, len(TOPICS)) < 1e-4
    assert all(used == [insight.text] for _, used in after_tiktok)  # each script records what it was given
    assert after_youtube == before_youtube  # no insight for YouTube: byte-for-byte the same choices

    # The LLM tier gets the same insight in its prompt (data section), and the trend scorer the coverage.
    context = MemoryContext(MemoryService(shared_backend()))
    assert insight.text in await context.insights(project_id, TOPICS[0], 5)
    assert scripts.llm is not None
    request, _memories, _prompt = await scripts.llm.build_request(
        ScriptRequest(project_id=project_id, run_id="llm", topic=TOPICS[0]), settings.project(project_id))
    assert insight.text.split(" (")[0] in request.messages[0].text


async def test_when_nothing_differs_nothing_is_claimed_and_nothing_changes(tmp_path: Path) -> None:
    project_id = new_project()
    settings = settings_for(project_id, ["tiktok", "youtube"])
    scripts, _vision = script_services(settings, None)
    before = await _styles(scripts, project_id, "tiktok")

    service = _service(tmp_path, {}, seed=4)
    analysed = await service.analyse(project_id, AS_OF)
    remembered = await service.remember(service_request(project_id, analysed.insights))
    report = service.reports.load(project_id)

    assert analysed.insights == [] and analysed.posts == 300 and analysed.tests > 30
    assert report is not None and not any(g.confident for h in report.hooks for g in h.groups)
    assert not any(f.confident for f in report.features)
    assert remembered.added == 0 and await MemoryService(shared_backend()).list(project_id, "insight") == []
    assert await _styles(scripts, project_id, "tiktok") == before


def service_request(project_id: str, insights: list[Insight]):  # type: ignore[no-untyped-def]
    from sma.models.intelligence import RememberRequest

    return RememberRequest(project_id=project_id, as_of=AS_OF, insights=insights)


def test_power_and_honesty_over_many_histories() -> None:
    """Ten effect histories and ten null histories through the full analysis (hooks, features, audience)."""
    from sma.services.intelligence.analysis import Analyser

    analyser = Analyser(IntelligenceSettings(draws=1000, resamples=1000))
    since = AS_OF - timedelta(days=90)
    found = sum(any(i.key == "hook:tiktok" and i.subject == "question" for i in analyser.analyse(
        "p", history(100 + s, boost={("tiktok", "question"): 2.0}), AS_OF, since).insights) for s in range(10))
    wrong_winner = sum(any(i.kind == "hook" and i.direction == "better" and i.subject != "question"
                           for i in analyser.analyse("p", history(100 + s, boost={("tiktok", "question"): 2.0}),
                                                     AS_OF, since).insights) for s in range(10))
    false_runs = sum(bool(analyser.analyse("p", history(200 + s), AS_OF, since).insights) for s in range(10))
    assert found >= 7 and wrong_winner == 0 and false_runs <= 2
