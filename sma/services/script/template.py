"""Script writing: the offline template tier (always available, deterministic).

It builds a real script from the topic's own title, summary and facts, so the whole product runs with no
provider keys; runs show tier "template". The LLM tiers (script/llm.py) sit in front of it.
Same topic, project and feedback: same script, byte for byte.

Reviewer feedback is parsed by `script.feedback` and applied measurably (length, hook style, terms said or
not, plainer words, energy, another example); whatever it asks, the next round's narration differs from the
round it is about, so a rejection never returns the same voice and video.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Protocol

from sma.models.pipeline import Beat, HookStyle, Script, ScriptRequest, Topic, Visual
from sma.services.intelligence.guidance import HookGuidance, HookPreference, NoGuidance, pick, use_preferred
from sma.services.llm.config import ScriptQASettings
from sma.services.media.storyboard import key_words
from sma.services.qa.script import duration_band
from sma.services.script.feedback import (
    LONGER_THAN_PREVIOUS,
    SHORTER_THAN_PREVIOUS,
    FeedbackPlan,
    has_term,
    plan_feedback,
)
from sma.services.script.languages import ScriptPhrases, phrases_for
from sma.settings import PipelineSettings, ProjectSettings

PROMPT_VERSION = "template-v3"
_HOOK_STYLES: tuple[HookStyle, ...] = ("question", "bold_claim", "statistic", "story", "contrarian", "how_to")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PLAIN = {
    "utilize": "use", "utilise": "use", "utilizes": "uses", "utilization": "use", "approximately": "about",
    "demonstrate": "show", "demonstrates": "shows", "significant": "big", "significantly": "much",
    "additional": "more", "numerous": "many", "facilitate": "help", "facilitates": "helps",
    "subsequently": "then", "however": "but", "therefore": "so", "consequently": "so", "individuals": "people",
    "commence": "start", "sufficient": "enough", "requirement": "need", "requirements": "needs",
    "optimize": "improve", "optimise": "improve", "leverage": "use", "leverages": "uses", "functionality": "features",
    "methodology": "method", "regarding": "about", "assistance": "help", "purchase": "buy", "obtain": "get",
    "component": "part", "components": "parts", "implement": "build", "ensure": "make sure",
    "eliminate": "remove", "eliminates": "removes", "modify": "change", "indicate": "show", "indicates": "shows",
    "initial": "first", "initiate": "start", "terminate": "end", "accelerate": "speed up",
    "accelerates": "speeds up", "comprehensive": "full", "fundamental": "basic", "substantial": "large",
    "substantially": "much", "optimal": "best", "frequently": "often", "nevertheless": "still",
    "sophisticated": "advanced", "capabilities": "skills", "prioritize": "put first", "encounter": "meet",
    "anticipate": "expect", "objective": "goal", "objectives": "goals", "endeavor": "try", "enables": "lets",
    "enable": "let", "mechanism": "way", "mechanisms": "ways", "infrastructure": "systems",
    "in order to": "to", "prior to": "before", "a number of": "some", "in addition": "also",
    "with regard to": "about", "at this point in time": "now", "due to the fact that": "because",
}
_PLAIN_RE = re.compile(r"\b(" + "|".join(sorted((re.escape(k) for k in _PLAIN), key=len, reverse=True)) + r")\b",
                       re.IGNORECASE)
_JOINTS = re.compile(r"(?:;\s+|,\s+(?=(?:and|but|so|because)\s))")
_LONG_SENTENCE = 14
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


def _hashtags(topic: Topic, project: ProjectSettings, stop: frozenset[str], drops: list[str] | None = None
              ) -> list[str]:
    words = re.findall(r"[^\W\d_]\w{2,}", f"{topic.title} {project.niche}")
    dropped = [re.sub(r"\W", "", d.lower()) for d in drops or []]
    seen: list[str] = []
    for word in words:
        tag = "#" + word.lower()
        if tag not in seen and word.lower() not in stop and not any(d and d in tag for d in dropped):
            seen.append(tag)
    return seen[:5]


def _without(text: str, terms: list[str]) -> str:
    """The text with the terms cut out (whole words), spaces and commas tidied."""
    for term in terms:
        text = re.sub(rf"(?<![\w]){re.escape(term)}(?![\w])", " ", text, flags=re.IGNORECASE)
    return re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s+", " ", text)).strip(" ,;:-")


def _says_any(text: str, terms: list[str]) -> bool:
    return any(has_term(text, t) for t in terms)


def _is_clause(term: str) -> bool:
    """'that it is open source' reads as a clause, 'Rust' as a name."""
    return term.split()[0].lower() in {"that", "what", "how", "why", "when", "if", "where", "who", "it's", "its"}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plain(sentence: str) -> list[str]:
    """Plainer words, and a long sentence split at its clause joints into shorter ones."""
    def swap(match: re.Match[str]) -> str:
        word = _PLAIN[match.group(0).lower()]
        return _capital(word) if match.group(0)[0].isupper() else word

    text = _PLAIN_RE.sub(swap, sentence)
    if _words(text) <= _LONG_SENTENCE:
        return [text]
    parts = [p.strip(" ,;") for p in _JOINTS.split(text) if p.strip(" ,;")]
    if len(parts) < 2 or any(_words(p) < 3 for p in parts):
        return [text]
    return [_ensure_period(_capital(p)) for p in parts]


def _rotate(items: list[str], by: int) -> list[str]:
    if len(items) < 2 or by % len(items) == 0:
        return list(items)
    by %= len(items)
    return items[by:] + items[:by]


@dataclass(frozen=True)
class _Length:
    """Total narration words: material fills up to `most`, generic sentences top up to `least`."""

    most: int
    least: int
    minimum: int = 0
    tight: bool = False


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
        return self.compose(req, project)[0]

    def compose(self, req: ScriptRequest, project: ProjectSettings) -> tuple[Script, list[str]]:
        """The script and notes on how the feedback was applied (and which was not understood).

        The previous round's script is `req.previous`, else what this writer wrote without the newest
        feedback. The narration always differs from it: when the requested changes leave it the same, the
        hook style, beat order and call to action rotate until it differs.
        """
        plan = plan_feedback(req.feedback)
        notes: list[str] = []
        if not req.feedback:
            return self._draft(req, project, plan, None, 0, notes), notes
        previous = req.previous or self.compose(req.model_copy(update={"feedback": req.feedback[:-1],
                                                                       "qa_feedback": []}), project)[0]
        script = self._draft(req, project, plan, previous, 0, notes)
        shift = 0
        while script.narration() == previous.narration() and shift < 2 * len(_HOOK_STYLES):
            shift += 1
            script = self._draft(req, project, plan, previous, shift, [])
        if shift:
            notes.append("the requested changes left the script as it was: changed the hook, beat order or "
                         "call to action so this round differs")
        if plan.applied:
            notes.insert(0, "feedback applied: " + ", ".join(plan.applied))
        notes += [f"feedback not understood by the template writer: '{text}'" for text in plan.not_understood]
        if plan.vary:
            notes.append("the newest feedback asked for nothing specific: changed the hook style and beat order")
        return script, notes

    # ------------------------------------------------------------ one draft

    def _draft(self, req: ScriptRequest, project: ProjectSettings, plan: FeedbackPlan, previous: Script | None,
               shift: int, notes: list[str]) -> Script:
        topic = req.topic
        qa_directives = " ".join(req.qa_feedback).lower()
        preference = pick(self.guidance.preferences(project.id), req.platforms or project.platforms)
        numeric = self._numeric_fact(topic, plan.drops)
        style = self._hook_style(topic, qa_directives, preference, plan, previous, shift, notes, numeric)
        length = self._length(plan, qa_directives, previous, notes)
        exclaim = plan.energy == "more" and not re.search(r"no exclamation", project.brand_voice.lower())
        subject = self._subject(topic.title, plan.drops)
        niche = "" if _says_any(project.niche, plan.drops) else project.niche
        phrases = phrases_for(project.language)
        hook = self._hook(phrases, style, subject, numeric, compact=False, exclaim=exclaim)
        cta = self._cta(phrases, niche, shift, compact=False, exclaim=exclaim)
        protected, material, filler = self._material(phrases, topic, subject, plan, previous, shift, hook, exclaim)
        if length.tight:
            shortest = min((_words(s) for s in material or filler), default=0)
            if _words(hook) + _words(cta) + shortest > length.most:
                hook = self._hook(phrases, style, subject, numeric, compact=True, exclaim=exclaim)
                cta = self._cta(phrases, niche, shift, compact=True, exclaim=exclaim)
                if not shift and material and _words(hook) + _words(cta) + _words(material[0]) > length.most:
                    material = sorted(material, key=_words)
        fixed = _words(hook) + _words(cta)
        hashtags = _hashtags(topic, project, phrases.stop_words, plan.drops)
        description = self._description(phrases, topic, subject, plan.drops)
        beats = self._beats(protected, material, filler, length.most - fixed, length.least - fixed,
                            length.minimum - fixed)
        if plan.energy == "less":
            beats = [Beat(narration=b.narration.replace("!", ".")) for b in beats]
        title = clean_title(topic.title, 100)
        if _says_any(title, plan.drops):
            title = clean_title(_without(topic.title, plan.drops), 100) if subject != "this topic" else "This topic"
        script = Script(
            title=title,
            hook=hook,
            hook_style=style,
            beats=fill_visuals(beats),
            cta=cta,
            hashtags=hashtags,
            description=description,
            prompt_version=PROMPT_VERSION if phrases.language == "en" else f"{PROMPT_VERSION}-{phrases.language}",
            platform_hashtags={p: self._platform_tags(p, hashtags) for p in project.platforms},
            platform_descriptions={p: description for p in project.platforms},
            memories_used=[preference.text] if preference else [],
        )
        script.estimated_seconds = round(_words(script.narration()) * 60 / self.pipeline.words_per_minute, 1)
        return script

    # ------------------------------------------------------------ parts

    def _allowed(self, numeric: str) -> list[HookStyle]:
        return [s for s in _HOOK_STYLES if s != "statistic" or numeric]

    def _hook_style(self, topic: Topic, qa_directives: str, preference: HookPreference | None, plan: FeedbackPlan,
                    previous: Script | None, shift: int, notes: list[str], numeric: str) -> HookStyle:
        allowed = self._allowed(numeric)
        failed = qa_directives.split("hook style is", 1)[1][:20] if "hook style is" in qa_directives else ""
        named = plan.hook_style
        if named == "statistic" and not numeric:
            notes.append("asked for a statistic hook, but the topic's facts have no number to open with: "
                         "used another style")
            named = None
        if named is not None and named not in failed:
            return named
        base = self._base_style(topic, numeric, preference)
        for style in _HOOK_STYLES:  # QA named a style to use (and not the one that failed)
            if (style.replace("_", " ") in qa_directives or style in qa_directives) and style in allowed \
                    and style not in failed:
                return style
        if "hook" in qa_directives:  # "the hook is weak": try another style than last time
            candidates = [s for s in allowed if s != base]
            base = candidates[_HOOK_STYLES.index(base) % len(candidates)]
        if previous is not None and (plan.new_hook or plan.vary) and base == previous.hook_style:
            candidates = [s for s in allowed if s != previous.hook_style]
            digest = int(hashlib.sha256(f"{topic.title}/{len(plan.applied)}".encode()).hexdigest(), 16)
            base = candidates[digest % len(candidates)]
        if shift:
            base = allowed[(allowed.index(base) + shift) % len(allowed)] if base in allowed else base
        return base

    def _base_style(self, topic: Topic, numeric: str, preference: HookPreference | None) -> HookStyle:
        if numeric:
            base: HookStyle = "statistic"
        else:
            digest = int(hashlib.sha256(topic.title.encode()).hexdigest(), 16)
            base = ("question", "bold_claim", "how_to")[digest % 3]
        learned = preference.style if preference else ""
        if learned in _HOOK_STYLES and (learned != "statistic" or numeric) and preference is not None \
                and use_preferred(preference, topic.title, self.exploit_max):
            base = learned
        return base

    def _length(self, plan: FeedbackPlan, qa_directives: str, previous: Script | None,
                notes: list[str]) -> _Length:
        per_s = self.pipeline.words_per_minute / 60
        low, high = duration_band(self.pipeline, self.qa)
        band_low, band_high = math.ceil(low * per_s), int(high * per_s)
        most = int(self.pipeline.target_seconds * per_s)
        least = int(low * per_s * 1.15) + 1
        factor = plan.length_factor
        if "shorter" in qa_directives or "too long" in qa_directives:
            factor *= 2 / 3
        elif "longer" in qa_directives or "too short" in qa_directives:
            factor *= 1.5
        asked = plan.words or (round(plan.seconds * per_s) if plan.seconds else 0)
        if asked:
            most = least = asked
        elif factor != 1.0:
            most = max(12, int(most * factor))
            least = int(least * factor) if factor < 1 else int(most * 0.9)
        before = len(previous.narration().split()) if previous is not None else 0
        if before and plan.latest_length == "shorter":
            most = min(most, int(before * SHORTER_THAN_PREVIOUS))
        elif before and plan.latest_length == "longer":
            least = max(least, math.ceil(before * LONGER_THAN_PREVIOUS))
            most = max(most, least)
        clamped_most, clamped_least = min(max(most, band_low), band_high), min(max(least, band_low), band_high)
        if asked and not band_low <= asked <= band_high:
            notes.append(f"asked for about {asked} words ({asked / per_s:.0f} s); QA_SCRIPT allows "
                         f"{low:g}-{high:g} s, so the script aims at {clamped_most} words")
        elif before and plan.latest_length == "shorter" and clamped_most >= before:
            notes.append(f"asked for shorter, but the previous script is already near the shortest QA_SCRIPT "
                         f"allows ({low:g} s)")
        elif before and plan.latest_length == "longer" and clamped_least <= before:
            notes.append(f"asked for longer, but the previous script is already near the longest QA_SCRIPT "
                         f"allows ({high:g} s)")
        tight = plan.latest_length == "shorter" or plan.length_factor < 1 or bool(asked and asked < before)
        return _Length(most=clamped_most, least=min(clamped_least, clamped_most), minimum=band_low, tight=tight)

    @staticmethod
    def _numeric_fact(topic: Topic, drops: list[str] | None = None) -> str:
        for fact in topic.facts:
            first = (_sentences(fact) or [fact])[0]
            if any(ch.isdigit() for ch in first) and not _says_any(first, drops or []):
                return _ensure_period(first)
        return ""

    @staticmethod
    def _subject(title: str, drops: list[str]) -> str:
        """The title as a phrase, without the terms the reviewer asked to drop."""
        if not drops or not _says_any(title, drops):
            return clean_title(title)
        rest = clean_title(_without(title, drops))
        return rest if len(rest.split()) >= 2 and rest != "this topic" else "this topic"

    @staticmethod
    def _hook(phrases: ScriptPhrases, style: HookStyle, subject: str, numeric: str, compact: bool,
              exclaim: bool) -> str:
        if style == "statistic" and numeric:
            hook = numeric
        else:
            template = (phrases.compact_hooks if compact else {}).get(style) or phrases.hooks[style]
            hook = phrases.fill(template, subject)
            hook = _capital(hook) if template.startswith("{title}") else hook
        return hook[:-1] + "!" if exclaim and hook.endswith(".") else hook

    @staticmethod
    def _cta(phrases: ScriptPhrases, niche: str, shift: int, compact: bool, exclaim: bool) -> str:
        choices = phrases.cta_choices(niche, compact)
        cta = choices[shift % len(choices)]
        return cta[:-1] + "!" if exclaim else cta

    def _material(self, phrases: ScriptPhrases, topic: Topic, subject: str, plan: FeedbackPlan,
                  previous: Script | None, shift: int, hook: str, exclaim: bool
                  ) -> tuple[list[str], list[str], list[str]]:
        """(protected, material, filler): requested lines always said, the topic's sentences, generic ones."""
        said_in_hook = hook.rstrip(".!?")
        material = [s for s in (*_sentences(topic.summary), *(_ensure_period(f) for f in topic.facts))
                    if s.rstrip(".!?") != said_in_hook and not _says_any(s, plan.drops)]
        filler = [phrases.fill(s, subject) for s in phrases.filler]
        if not material:
            material, filler = filler[:2], filler[2:]
        protected: list[str] = []
        for term in plan.mentions:
            found = next((s for s in material if has_term(s, term)), None)
            if found is not None:
                material.remove(found)
                protected.append(found)
            if previous is not None and has_term(previous.narration(), term):  # "more about X": say it again
                protected.append(f"One more point, again: {term}." if _is_clause(term)
                                 else f"{_capital(term)} deserves a closer look here.")
            elif found is None:
                protected.append(f"One more point: {term}.")
        said = {b.narration for b in previous.beats} if previous is not None else set()
        if plan.new_example and previous is not None:
            fresh = [s for s in material if s not in said]
            material = fresh + [s for s in material if s in said] if fresh and fresh != material else _rotate(
                material, 1)
        rotation = shift + (1 if plan.vary else 0)
        material = _rotate(material, rotation)
        if rotation and len(material) < 2:
            filler = _rotate(filler, rotation)
        if plan.simpler:
            material = [part for s in material for part in _plain(s)]
            filler = [part for s in filler for part in _plain(s)]
            protected = [part for s in protected for part in _plain(s)]
        if plan.energy == "more" and phrases.energy_line:
            protected.insert(0, phrases.energy_line.format(mark="!" if exclaim else "."))
        return protected, material, filler

    def _beats(self, protected: list[str], material: list[str], filler: list[str], target_words: int,
               floor_words: int, minimum_words: int) -> list[Beat]:
        """Requested lines, then the topic's own sentences up to the target; generic, claim-free sentences
        top up a thin topic to the floor, and past the target only as far as QA_SCRIPT's minimum needs."""
        lines = list(protected)
        used = sum(_words(s) for s in lines)
        for sentence in material:
            if len(lines) > len(protected) and used + _words(sentence) > target_words:
                continue
            lines.append(sentence)
            used += _words(sentence)
        spare = list(filler)
        for sentence in filler:
            if used >= floor_words:
                break
            if lines and used + _words(sentence) > target_words:
                continue
            lines.append(sentence)
            spare.remove(sentence)
            used += _words(sentence)
        while used < minimum_words and spare:
            sentence = min(spare, key=_words)
            spare.remove(sentence)
            lines.append(sentence)
            used += _words(sentence)
        return [Beat(narration=s) for s in lines]

    @staticmethod
    def _platform_tags(platform: str, hashtags: list[str]) -> list[str]:
        extra = _PLATFORM_TAGS.get(platform)
        return [*hashtags, extra] if extra and extra not in hashtags else list(hashtags)

    @staticmethod
    def _description(phrases: ScriptPhrases, topic: Topic, subject: str, drops: list[str]) -> str:
        summary = " ".join(s for s in _sentences(topic.summary) if not _says_any(s, drops))
        parts = [summary] if summary else [_capital(subject) if drops else clean_title(topic.title, 100)]
        parts += [f"{phrases.source_label}: {url}" for url in topic.source_urls[:3]]
        return "\n".join(parts)


_STAT = re.compile(r"(?<![\w.])([$€£]?\d[\d,]*(?:\.\d+)?(?:\s?%|x\b|[kKmMbB]\b)?)")
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{12,})[\"\u201d](?:,?\s*(?:says|said|writes|wrote)\s+([^.,;]+))?")


def fill_visuals(beats: list[Beat]) -> list[Beat]:
    """Each beat's on-screen visual from its own sentence: a number becomes a statistic card that counts up,
    a quotation a quote card, anything else its key words. A beat keeps a visual that is complete (`usable`):
    an LLM's statistic, quote, code, diagram, picture or title stays; an empty or made-up one is replaced."""
    return [beat if usable(beat.visual, beat.narration) else
            beat.model_copy(update={"visual": _visual_for(beat.narration)}) for beat in beats]  # fmt: skip


def usable(visual: Visual, narration: str) -> bool:
    """True when the visual has what its kind draws; a statistic's number must be one the beat says."""
    needs = {"code": visual.code, "diagram": visual.diagram, "image": visual.image_prompt, "quote": visual.quote,
             "title": visual.headline, "text": visual.headline, "stat": visual.stat_value}  # fmt: skip
    if not needs.get(visual.kind, "").strip():
        return False
    if visual.kind == "stat":
        digits = re.sub(r"[^\d.]", "", visual.stat_value).strip(".")
        return bool(digits) and digits in narration.replace(",", "")
    return True


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
