"""Script writing: the offline template tier (always available, deterministic).

It builds a real script from the topic's own title, summary and facts, so the whole product runs with no
provider keys. The LLM tiers (issue 4) implement the same `ScriptWriter` protocol.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from sma.models.pipeline import Beat, HookStyle, Script, ScriptRequest, Topic
from sma.settings import PipelineSettings, ProjectSettings

PROMPT_VERSION = "template-v1"
_HOOK_STYLES: tuple[HookStyle, ...] = ("question", "bold_claim", "statistic", "story", "contrarian", "how_to")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


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


def _hashtags(topic: Topic, project: ProjectSettings) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9]{2,}", f"{topic.title} {project.niche}")
    seen: list[str] = []
    for word in words:
        tag = "#" + word.lower()
        if tag not in seen and word.lower() not in {"the", "and", "for", "with", "that", "this", "your"}:
            seen.append(tag)
    return seen[:5]


class TemplateScriptWriter:
    """Deterministic writer: same topic and feedback, same script."""

    name = "template"

    def __init__(self, pipeline: PipelineSettings) -> None:
        self.pipeline = pipeline

    def write(self, req: ScriptRequest, project: ProjectSettings) -> Script:
        topic = req.topic
        directives = " ".join(req.feedback + req.qa_feedback).lower()
        style = self._hook_style(topic, directives)
        target_words = self._target_words(directives)
        beats = self._beats(topic, target_words)
        hook = self._hook(topic, style)
        cta = f"Follow for more on {project.niche or 'this'}." if project.niche else "Follow for more."
        script = Script(
            title=topic.title.strip()[:100],
            hook=hook,
            hook_style=style,
            beats=beats,
            cta=cta,
            hashtags=_hashtags(topic, project),
            description=self._description(topic),
            prompt_version=PROMPT_VERSION,
        )
        script.estimated_seconds = round(_words(script.narration()) * 60 / self.pipeline.words_per_minute, 1)
        return script

    # ------------------------------------------------------------ parts

    def _hook_style(self, topic: Topic, directives: str) -> HookStyle:
        for style in _HOOK_STYLES:
            if style.replace("_", " ") in directives or style in directives:
                return style
        if any(ch.isdigit() for fact in topic.facts for ch in fact):
            base = "statistic"
        else:
            digest = int(hashlib.sha256(topic.title.encode()).hexdigest(), 16)
            base = ("question", "bold_claim", "how_to")[digest % 3]
        if "hook" in directives:  # "the hook is weak": try another style than last time
            return _HOOK_STYLES[(_HOOK_STYLES.index(base) + 1) % len(_HOOK_STYLES)]
        return base

    def _target_words(self, directives: str) -> int:
        words = int(self.pipeline.target_seconds * self.pipeline.words_per_minute / 60)
        if "shorter" in directives or "too long" in directives:
            words = max(20, words // 2)
        elif "longer" in directives or "too short" in directives:
            words = int(words * 1.5)
        return words

    def _hook(self, topic: Topic, style: HookStyle) -> str:
        title = topic.title.strip().rstrip(".!?")
        numeric = next((f for f in topic.facts if any(ch.isdigit() for ch in f)), "")
        hooks: dict[str, str] = {
            "question": f"Have you seen what is happening with {title}?",
            "bold_claim": f"{title} deserves the next sixty seconds of your attention.",
            "statistic": _ensure_period(numeric) if numeric else f"One number explains {title}.",
            "story": f"Last week, a small change around {title} caught everyone's eye.",
            "contrarian": f"Everyone is talking about {title}, but most miss the point.",
            "how_to": f"Here is how to make sense of {title} in under a minute.",
        }
        return hooks[style]

    def _beats(self, topic: Topic, target_words: int) -> list[Beat]:
        material = [*_sentences(topic.summary), *(_ensure_period(f) for f in topic.facts)]
        if not material:
            title = topic.title.strip().rstrip(".!?")
            material = [
                f"{title} is the topic people keep sharing today.",
                "Here is the short version of why it matters.",
                "It changes how teams try new ideas, and it saves real time.",
                "Start small, measure what happens, and keep what works.",
            ]
        beats: list[Beat] = []
        used = 0
        for sentence in material:
            if beats and used + _words(sentence) > target_words:
                break
            beats.append(Beat(narration=sentence))
            used += _words(sentence)
        return beats

    def _description(self, topic: Topic) -> str:
        parts = [topic.summary.strip()] if topic.summary.strip() else [topic.title.strip()]
        parts += [f"Source: {url}" for url in topic.source_urls[:3]]
        return "\n".join(parts)
