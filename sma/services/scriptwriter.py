"""Script writing: the offline template tier (always available, deterministic).

It builds a real script from the topic's own title, summary and facts, so the whole product runs with no
provider keys; runs show tier "template". The LLM tiers (sma/services/llm/writer.py) sit in front of it.
Same topic, project and feedback: same script, byte for byte.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from sma.models.pipeline import Beat, HookStyle, Script, ScriptRequest, Topic, Visual
from sma.services.intelligence.guidance import HookGuidance, HookPreference, NoGuidance, pick, use_preferred
from sma.services.llm.config import ScriptQASettings
from sma.services.media.storyboard import key_words
from sma.services.qa_script import duration_band
from sma.settings import PipelineSettings, ProjectSettings

PROMPT_VERSION = "template-v2"
_HOOK_STYLES: tuple[HookStyle, ...] = ("question", "bold_claim", "statistic", "story", "contrarian", "how_to")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOP = {"the", "and", "for", "with", "that", "this", "your", "are", "why", "how", "what", "into", "from"}
# Top-up sentences for topics with little text of their own: no numbers, no claims, no hype.
_FILLER = (
    "This one keeps coming up: {title}.",
    "Here is the short version of why it matters.",
    "The idea is simple, but the details decide whether it helps you.",
    "First, look at what problem it actually solves for you.",
    "Then check what it costs in time, money and attention.",
    "Try it on one small piece of work before you change everything.",
    "Measure what happens, and compare it with how you worked before.",
    "Keep what works, drop what does not, and share what you learn.",
    "That is how small experiments turn into habits that last.",
)
_PLATFORM_TAGS = {"youtube": "#shorts", "tiktok": "#fyp", "instagram": "#reels"}


class ScriptWriter(Protocol):
    name: str

    def write(self, req: ScriptRequest, project: ProjectSettings) -> Script: ...


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _ensure_period(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else text + "."


def _words(text: str) -> int:
    return len(text.split())


def clean_title(title: str, limit: int = 90) -> str:
    """The title as a phrase usable inside one sentence: no inner sentence ends, no line breaks."""
    text = re.sub(r"\s+", " ", title).strip()
    text = re.sub(r"[.!?]+(\s+|$)", ", ", text).strip(" ,;:")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0]
    return text or "this topic"


def _hashtags(topic: Topic, project: ProjectSettings) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9]{2,}", f"{topic.title} {project.niche}")
    seen: list[str] = []
    for word in words:
        tag = "#" + word.lower()
        if tag not in seen and word.lower() not in _STOP:
            seen.append(tag)
    return seen[:5]


class TemplateScriptWriter:
    """Deterministic writer: same topic, feedback and insights, same script.

    With `guidance`, the hook style follows what the intelligence loop learned for the run's platforms:
    the preferred style is used for a share of topics equal to how sure the insight is (P(best), capped at
    `exploit_max`), decided per topic by a hash, and the insight is recorded in `memories_used`.
    """

    name = "template"

    def __init__(self, pipeline: PipelineSettings, qa: ScriptQASettings | None = None,
                 guidance: HookGuidance | None = None, exploit_max: float = 0.8) -> None:
        self.pipeline = pipeline
        self.qa = qa or ScriptQASettings()
        self.guidance = guidance or NoGuidance()
        self.exploit_max = exploit_max

    def write(self, req: ScriptRequest, project: ProjectSettings) -> Script:
        topic = req.topic
        directives = " ".join(req.feedback + req.qa_feedback).lower()
        preference = pick(self.guidance.preferences(project.id), req.platforms or project.platforms)
        style = self._hook_style(topic, directives, preference)
        hook = self._hook(topic, style)
        cta = f"Follow for more on {project.niche}." if project.niche else "Follow for more."
        fixed = _words(hook) + _words(cta)
        budget = self._target_words(directives) - fixed
        # Generic top-up sentences only fill up to a little above the QA band's lower end.
        floor = int(duration_band(self.pipeline, self.qa)[0] * self.pipeline.words_per_minute / 60 * 1.15) + 1
        hashtags = _hashtags(topic, project)
        description = self._description(topic)
        script = Script(
            title=clean_title(topic.title, 100),
            hook=hook,
            hook_style=style,
            beats=fill_visuals(self._beats(topic, budget, min(budget, floor - fixed), skip=hook)),
            cta=cta,
            hashtags=hashtags,
            description=description,
            prompt_version=PROMPT_VERSION,
            platform_hashtags={p: self._platform_tags(p, hashtags) for p in project.platforms},
            platform_descriptions={p: description for p in project.platforms},
            memories_used=[preference.text] if preference else [],
        )
        script.estimated_seconds = round(_words(script.narration()) * 60 / self.pipeline.words_per_minute, 1)
        return script

    # ------------------------------------------------------------ parts

    def _hook_style(self, topic: Topic, directives: str, preference: HookPreference | None = None) -> HookStyle:
        numeric = self._numeric_fact(topic)
        for style in _HOOK_STYLES:
            if (style.replace("_", " ") in directives or style in directives) and (style != "statistic" or numeric):
                if "hook style is" in directives and style in directives.split("hook style is", 1)[1][:20]:
                    continue  # QA said this style failed: do not pick it again
                return style
        if numeric:
            base: HookStyle = "statistic"
        else:
            digest = int(hashlib.sha256(topic.title.encode()).hexdigest(), 16)
            base = ("question", "bold_claim", "how_to")[digest % 3]
        learned = preference.style if preference else ""
        if learned in _HOOK_STYLES and (learned != "statistic" or numeric) and preference is not None \
                and use_preferred(preference, topic.title, self.exploit_max):
            base = learned  # type: ignore[assignment]
        if "hook" in directives:  # "the hook is weak": try another style than last time
            candidates = [s for s in _HOOK_STYLES if s != base and (s != "statistic" or numeric)]
            return candidates[_HOOK_STYLES.index(base) % len(candidates)]
        return base

    def _target_words(self, directives: str) -> int:
        words = int(self.pipeline.target_seconds * self.pipeline.words_per_minute / 60)
        if "shorter" in directives or "too long" in directives:
            words = max(12, words * 2 // 3)
        elif "longer" in directives or "too short" in directives:
            words = int(words * 1.5)
        return words

    @staticmethod
    def _numeric_fact(topic: Topic) -> str:
        for fact in topic.facts:
            first = (_sentences(fact) or [fact])[0]
            if any(ch.isdigit() for ch in first):
                return _ensure_period(first)
        return ""

    def _hook(self, topic: Topic, style: HookStyle) -> str:
        title = clean_title(topic.title)
        hooks: dict[str, str] = {
            "question": f"Have you seen what is happening with {title}?",
            "bold_claim": f"{title} deserves the next minute of your attention.",
            "statistic": self._numeric_fact(topic) or f"One number explains {title}.",
            "story": f"Last week, a small change around {title} caught everyone's eye.",
            "contrarian": f"Everyone is talking about {title}, but most miss the point.",
            "how_to": f"Here is how to make sense of {title} in under a minute.",
        }
        return hooks[style]

    def _beats(self, topic: Topic, target_words: int, floor_words: int, skip: str = "") -> list[Beat]:
        """The topic's own sentences up to the target; generic, claim-free sentences top up a thin topic."""
        material = [s for s in (*_sentences(topic.summary), *(_ensure_period(f) for f in topic.facts)) if s != skip]
        title = clean_title(topic.title)
        filler = [s.format(title=title) for s in _FILLER]
        if not material:
            material, filler = filler[:2], filler[2:]
        beats: list[Beat] = []
        used = 0
        for sentence in material:
            if beats and used + _words(sentence) > target_words:
                return beats
            beats.append(Beat(narration=sentence))
            used += _words(sentence)
        for sentence in filler:
            if used >= floor_words or used + _words(sentence) > target_words:
                break
            beats.append(Beat(narration=sentence))
            used += _words(sentence)
        return beats

    @staticmethod
    def _platform_tags(platform: str, hashtags: list[str]) -> list[str]:
        extra = _PLATFORM_TAGS.get(platform)
        return [*hashtags, extra] if extra and extra not in hashtags else list(hashtags)

    def _description(self, topic: Topic) -> str:
        parts = [topic.summary.strip()] if topic.summary.strip() else [clean_title(topic.title, 100)]
        parts += [f"Source: {url}" for url in topic.source_urls[:3]]
        return "\n".join(parts)


_STAT = re.compile(r"(?<![\w.])([$€£]?\d[\d,]*(?:\.\d+)?(?:\s?%|x\b|[kKmMbB]\b)?)")
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{12,})[\"\u201d](?:,?\s*(?:says|said|writes|wrote)\s+([^.,;]+))?")


def fill_visuals(beats: list[Beat]) -> list[Beat]:
    """Each beat's on-screen visual from its own sentence: a number becomes a statistic card that counts up,
    a quotation a quote card, anything else its key words. Beats that already have a visual keep it."""
    return [beat if beat.visual.kind != "none" else beat.model_copy(update={"visual": _visual_for(beat.narration)})
            for beat in beats]  # fmt: skip


def _visual_for(sentence: str) -> Visual:
    if quoted := _QUOTED.search(sentence):
        return Visual(kind="quote", quote=quoted.group(1).strip(), attribution=(quoted.group(2) or "").strip())
    for number in _STAT.finditer(sentence):
        value = number.group(1).strip()
        if "." in value and not value.endswith(("%", "x")):
            continue  # 3.11 is more likely a version than a statistic
        after = sentence[number.end() :].strip(" .!?")
        label = after if len(after.split()) >= 2 else sentence.strip(" .!?").replace(value, "").strip()
        words = label.split()
        return Visual(kind="stat", stat_value=value, stat_label=" ".join(words[:7]) + ("…" if len(words) > 7 else ""))
    return Visual(kind="text", headline=key_words(sentence))
