"""Step 2: the LLM scriptwriter and the writer chain (LLM tiers, then the offline template).

The system prompt is built from the prompt file and configuration only; everything that comes from
outside (topic, media description, memories, insights) goes into the user message as escaped JSON inside
data tags. Human feedback of earlier rounds and the QA corrections of the last attempt are instructions and
go in as such.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import structlog

from sma.models.language import language_name
from sma.models.llm import CallContext, ChatMessage, LLMRequest, LLMResult, Memory, ScriptAttemptRecord, ScriptDraft
from sma.models.pipeline import Script, ScriptRequest, ScriptResult
from sma.services.llm.context import InsightProvider, MemoryProvider, NoInsights, NoMemory
from sma.services.llm.errors import AllProvidersFailed, BudgetExceeded
from sma.services.llm.gateway import LLMGateway
from sma.services.llm.prompts import Prompt, PromptError, PromptLibrary, data_block
from sma.services.llm.store import UsageStore
from sma.services.qa.script import check_script, duration_band
from sma.services.script.feedback import FeedbackPlan, plan_feedback, unmet
from sma.services.script.languages import template_language_notes
from sma.services.script.template import TemplateScriptWriter, fill_visuals
from sma.services.source_credit import credit_sources
from sma.settings import ProjectSettings, Settings

log = structlog.get_logger("sma.script")
STAGE = "script"
_TAG = re.compile(r"[^\w]")


@dataclass
class Written:
    script: Script
    llm: LLMResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tier(self) -> str:
        return self.llm.tier if self.llm else "template"


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = "#" + _TAG.sub("", value.lower().lstrip("#"))
        if len(tag) > 1 and tag not in tags:
            tags.append(tag)
    return tags[:8]


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {' '.join(item.split())}" for item in items)


class LLMScriptWriter:
    """Writes a Script through the gateway's `script` chain."""

    def __init__(self, gateway: LLMGateway, settings: Settings, prompts: PromptLibrary,
                 memory: MemoryProvider | None = None, insights: InsightProvider | None = None) -> None:
        self.gateway = gateway
        self.settings = settings
        self.prompts = prompts
        self.memory = memory or NoMemory()
        self.insights = insights or NoInsights()

    def available(self) -> bool:
        return self.gateway.available(STAGE)

    def system_prompt(self, prompt: Prompt) -> str:
        """Depends on configuration only, never on the topic."""
        pipeline = self.settings.pipeline
        low, high = duration_band(pipeline, self.settings.llm.qa)
        per_s = pipeline.words_per_minute / 60
        return prompt.system(target_seconds=round(pipeline.target_seconds), wpm=pipeline.words_per_minute,
                             target_words=round(pipeline.target_seconds * per_s), min_words=int(low * per_s) + 1,
                             max_words=int(high * per_s))

    def user_prompt(self, prompt: Prompt, req: ScriptRequest, project: ProjectSettings, memories: list[Memory],
                    insights: list[str]) -> str:
        topic = req.topic
        topic_data = {"title": topic.title, "summary": topic.summary, "facts": topic.facts,
                      "source_urls": topic.source_urls}
        feedback = self.feedback_section(req)
        qa = ("\nThe previous attempt failed these automatic checks; fix every one:\n"
              + _bullets(req.qa_feedback) + "\n") if req.qa_feedback else ""
        media = (f"\nWhat the creator's photos or video show (data):\n<media_data>\n{data_block(req.media_context)}"
                 "\n</media_data>\n") if req.media_context else ""
        memory = ("\nWhat this project already covered or learned (data; do not repeat covered angles):\n"
                  f"<memory_data>\n{data_block([m.model_dump() for m in memories])}\n</memory_data>\n"
                  ) if memories else ""
        insight = ("\nWhat works with this audience (data):\n"
                   f"<insight_data>\n{data_block(insights)}\n</insight_data>\n") if insights else ""
        return prompt.user(
            project_name=project.name or project.id, language=language_name(project.language),
            niche=project.niche or "general", audience=project.audience
            or "general", brand_voice=project.brand_voice, banned_phrases=", ".join(project.banned_phrases)
            or "none", platforms=", ".join(project.platforms), feedback_section=feedback, qa_section=qa,
            topic_json=data_block(topic_data), media_section=media, memory_section=memory, insight_section=insight)

    def feedback_section(self, req: ScriptRequest) -> str:
        """The reviewer's own words, what they ask for measurably, and the rejected script not to repeat."""
        if not req.feedback:
            return ""
        section = ("\nReviewer feedback from earlier rounds of this run (follow all of it):\n"
                   + _bullets(req.feedback) + "\n")
        requests = self.measurable(plan_feedback(req.feedback), req)
        if requests:
            section += "\nWhat that feedback asks for, measurably (every item must hold):\n" + _bullets(requests) + "\n"
        if req.previous is not None:
            section += ("\nThe rejected script of the last round (data; write a different one, never the same "
                        f"narration):\n<previous_script>\n{data_block(req.previous.narration())}\n</previous_script>\n")
        return section

    def measurable(self, plan: FeedbackPlan, req: ScriptRequest) -> list[str]:
        pipeline = self.settings.pipeline
        per_s = pipeline.words_per_minute / 60
        before = len(req.previous.narration().split()) if req.previous is not None else 0
        asked = plan.words or (round(plan.seconds * per_s) if plan.seconds else 0)
        items: list[str] = []
        if asked:
            items.append(f"about {asked} words of narration in total")
        if plan.latest_length == "shorter" and before:
            items.append(f"fewer words than the rejected script's {before}")
        elif plan.latest_length == "longer" and before:
            items.append(f"more words than the rejected script's {before}")
        elif not asked and plan.length_factor != 1.0:
            items.append(f"about {round(pipeline.target_seconds * per_s * plan.length_factor)} words of narration")
        if plan.hook_style:
            items.append(f"hook_style must be {plan.hook_style}")
        elif plan.new_hook and req.previous is not None:
            items.append(f"a hook_style other than {req.previous.hook_style}, with a new hook")
        items += [f"say '{t}' in the narration" for t in plan.mentions]
        items += [f"never say '{t}' (not in the hook, beats, call to action or hashtags)" for t in plan.drops]
        if plan.simpler:
            items.append("plain everyday words and short sentences")
        if plan.energy:
            items.append("more energy: short punchy sentences" if plan.energy == "more" else "a calmer tone")
        if plan.new_example:
            items.append("use a different example from the topic than the rejected script")
        return items

    async def build_request(self, req: ScriptRequest, project: ProjectSettings) -> tuple[LLMRequest, list[Memory],
                                                                                         Prompt]:
        limit = self.settings.llm.memories
        memories = await self.memory.relevant(project.id, req.topic, limit)
        insights = await self.insights.insights(project.id, req.topic, limit)
        prompt = self.prompts.get(STAGE)
        request = LLMRequest(
            system=self.system_prompt(prompt),
            messages=[ChatMessage(role="user", text=self.user_prompt(prompt, req, project, memories, insights))],
            schema_name="script",
        )
        return request, memories, prompt

    async def write(self, req: ScriptRequest, project: ProjectSettings) -> Written:
        request, memories, prompt = await self.build_request(req, project)
        ctx = CallContext(project_id=project.id, run_id=req.run_id, stage=STAGE)
        out = await self.gateway.structured(ctx, request, ScriptDraft)
        script = self.to_script(out.value, prompt.full_version, memories)
        return Written(script=script, llm=out.result)

    def to_script(self, draft: ScriptDraft, prompt_version: str, memories: list[Memory]) -> Script:
        hashtags = _tags(draft.hashtags)
        script = Script(
            title=" ".join(draft.title.split())[:100],
            hook=" ".join(draft.hook.split()),
            hook_style=draft.hook_style,
            beats=fill_visuals([b for b in draft.beats if b.narration.strip()]),
            cta=" ".join(draft.cta.split()),
            hashtags=hashtags,
            description=draft.description.strip(),
            prompt_version=prompt_version,
            platform_hashtags={p.platform.lower(): _tags(p.hashtags) or hashtags for p in draft.platforms},
            platform_descriptions={p.platform.lower(): p.description.strip() for p in draft.platforms
                                   if p.description.strip()},
            memories_used=[m.text for m in memories],
        )
        script.estimated_seconds = round(len(script.narration().split()) * 60
                                         / self.settings.pipeline.words_per_minute, 1)
        return script


class ScriptService:
    """One write_script attempt: the writer chain, QA_SCRIPT, and the attempt kept with its report."""

    def __init__(self, settings: Settings, template: TemplateScriptWriter, store: UsageStore,
                 llm: LLMScriptWriter | None = None) -> None:
        self.settings = settings
        self.template = template
        self.store = store
        self.llm = llm

    async def _write(self, req: ScriptRequest, project: ProjectSettings, may_retry: bool) -> Written:
        notes: list[str] = []
        if self.llm is not None and self.llm.available():
            try:
                written = await self._write_llm(req, project)
                if written is not None:
                    return written
                notes.append("the LLM returned the rejected script unchanged: used the template so the "
                             "feedback changes this round")
            except BudgetExceeded:
                raise
            except (AllProvidersFailed, PromptError) as exc:
                if may_retry and isinstance(exc, AllProvidersFailed) and exc.transient:
                    raise
                notes.append(f"LLM tiers failed, used the template: {exc}")
                log.warning("llm script tiers failed; using the template", run_id=req.run_id, error=str(exc))
            except Exception as exc:  # a bug in an LLM tier must not stop content: the template always works
                notes.append(f"LLM tier error, used the template: {type(exc).__name__}: {exc}")
                log.exception("llm script tier crashed; using the template", run_id=req.run_id)
        else:
            notes.append("no LLM provider configured: offline template tier")
        notes += template_language_notes(project.language)
        script, feedback_notes = self.template.compose(req, project)
        return Written(script=script, notes=notes + feedback_notes)

    async def _write_llm(self, req: ScriptRequest, project: ProjectSettings) -> Written | None:
        """The LLM's script with notes on feedback it did not honour; None when it repeated the rejected
        narration word for word (the template then guarantees a changed round)."""
        assert self.llm is not None
        written = await self.llm.write(req, project)
        if not req.feedback:
            return written
        previous = req.previous
        if previous is not None and written.script.narration() == previous.narration():
            return None
        missed = unmet(plan_feedback(req.feedback), written.script, previous)
        written.notes += [f"feedback not honoured by the LLM: {m}" for m in missed]
        return written

    async def write(self, req: ScriptRequest, may_retry: bool = False) -> ScriptResult:
        """One attempt. `may_retry`: the caller retries later (a Temporal attempt that is not the last), so a
        transient failure of every LLM provider raises AllProvidersFailed instead of using the template."""
        started = time.perf_counter()
        project = self.settings.project(req.project_id)
        written = await self._write(req, project, may_retry)
        written.script = credit_sources(written.script, req.topic)  # any tier: the post names its sources
        qa = check_script(written.script, project, self.settings.pipeline, req.topic, self.settings.llm.qa)
        cost = written.llm.total_cost_usd if written.llm else 0.0
        await self.store.record_attempt(ScriptAttemptRecord(
            project_id=project.id, run_id=req.run_id, round=req.round, attempt=req.attempt, tier=written.tier,
            prompt_version=written.script.prompt_version, title=written.script.title,
            script_json=written.script.model_dump_json(), qa_json=qa.model_dump_json(), passed=qa.passed,
            cost_usd=cost))
        calls = written.llm.calls if written.llm else []
        notes = [*written.notes, *(f"{c.provider}:{c.model} attempt {c.attempt}: {c.outcome} {c.error}".strip()
                                   for c in calls if c.outcome != "ok")]
        return ScriptResult(
            script=written.script, qa=qa, feedback_used=[*req.feedback, *req.qa_feedback], tier=written.tier,
            seconds=round(time.perf_counter() - started, 3), notes=notes, cost_usd=cost, llm_calls=len(calls),
            budget_left_usd=await self.budget_left(project.id),
        )

    async def budget_left(self, project_id: str) -> float | None:
        budget = self.settings.llm.budget_for(project_id)
        if budget is None or self.llm is None:
            return None
        return round(budget - await self.llm.gateway.budget.spent_today(project_id), 6)

    async def write_until_passed(self, req: ScriptRequest, attempts: int) -> list[ScriptResult]:
        """Step 2 alone (the CLI): retry with the QA reasons as corrective feedback, like the workflow."""
        results: list[ScriptResult] = []
        qa_feedback: list[str] = list(req.qa_feedback)
        for attempt in range(1, max(1, attempts) + 1):
            result = await self.write(req.model_copy(update={"attempt": attempt, "qa_feedback": qa_feedback}))
            results.append(result)
            if result.qa.passed:
                break
            qa_feedback = list(result.qa.reasons)
        return results
