"""QA_SCRIPT: the checks a script must pass before any voice is spent on it.

Duration band at the configured words per minute, hook in the first sentence and true to its style,
banned phrases, brand-voice rules, profanity, and claims backed by the topic's own source text. Reasons are
phrased as corrections, because the workflow sends them back to the writer as `qa_feedback`.
"""

from __future__ import annotations

import re

from sma.models.common import QAReport
from sma.models.pipeline import Script, Topic
from sma.services.llm.config import ScriptQASettings
from sma.settings import PipelineSettings, ProjectSettings

GATE = "QA_SCRIPT"
_SENTENCE_END = re.compile(r"[.!?](\s|$)")
_WORD = re.compile(r"[a-z0-9']+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_EMOJI = re.compile("[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff]")

PROFANITY = ("fuck", "fucking", "fucked", "motherfucker", "shit", "bullshit", "shitty", "bitch", "asshole",
             "bastard", "cunt", "dick", "dickhead", "piss", "pissed", "crap", "damn", "goddamn", "wtf")
HYPE = ("revolutionary", "game-changing", "game changing", "mind-blowing", "mind blowing", "insane",
        "unbelievable", "groundbreaking", "disruptive", "world-class", "best ever", "10x", "magic bullet",
        "crushing it", "next level", "epic")
CLICKBAIT = ("you won't believe", "you will not believe", "shocking", "this one trick", "doctors hate",
             "what happens next", "will blow your mind", "nobody is talking about")
AUTHORITY = ("studies show", "study shows", "research shows", "research proves", "scientists say",
             "scientists found", "experts say", "experts agree", "according to a study", "a new report")
SOURCE_WORDS = ("study", "studies", "research", "report", "survey", "paper", "scientist", "expert")


def duration_band(pipeline: PipelineSettings, qa: ScriptQASettings) -> tuple[float, float]:
    """Seconds a script may last: target * (1 +/- tolerance), the upper bound at least target + slack."""
    target = pipeline.target_seconds
    low = max(qa.min_seconds, target * (1 - qa.duration_tolerance))
    high = min(qa.max_seconds, max(target * (1 + qa.duration_tolerance), target + qa.duration_slack_s))
    return low, max(low, high)


def _contains_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase.lower())}(?![a-z0-9])", text) is not None


def _duration(words: int, pipeline: PipelineSettings, qa: ScriptQASettings) -> list[str]:
    seconds = words * 60 / pipeline.words_per_minute
    low, high = duration_band(pipeline, qa)
    target_words = round(pipeline.target_seconds * pipeline.words_per_minute / 60)
    if seconds < low:
        return [f"too short: {seconds:.0f} s at {pipeline.words_per_minute} wpm, the band is {low:.0f}-{high:.0f} s; "
                f"make it longer (about {target_words} words)"]
    if seconds > high:
        return [f"too long: {seconds:.0f} s at {pipeline.words_per_minute} wpm, the band is {low:.0f}-{high:.0f} s; "
                f"make it shorter (about {target_words} words)"]
    return []


def _hook(script: Script, qa: ScriptQASettings) -> list[str]:
    hook = script.hook.strip()
    if not hook:
        return ["the hook is empty: start with a one-sentence hook"]
    reasons = []
    if len(_SENTENCE_END.findall(hook)) > 1:
        reasons.append("the hook must be a single first sentence")
    if len(hook.split()) > qa.max_hook_words:
        reasons.append(f"the hook is {len(hook.split())} words: keep it under {qa.max_hook_words}")
    if script.hook_style == "question" and not hook.endswith("?"):
        reasons.append("the hook style is question but the hook is not a question")
    if script.hook_style == "statistic" and not _NUMBER.search(hook):
        reasons.append("the hook style is statistic but the hook has no number")
    return reasons


def _voice(text: str, script: Script, project: ProjectSettings, qa: ScriptQASettings) -> list[str]:
    """Rules recognised in the brand voice text: no hype, no emojis, no exclamation marks, no clickbait."""
    voice = project.brand_voice.lower()
    reasons = []
    if re.search(r"no (hype|buzzwords)", voice):
        found = [w for w in (*HYPE, *qa.hype_words) if _contains_phrase(text, w)]
        if found:
            reasons.append("brand voice says no hype: remove " + ", ".join(sorted(set(found))))
    if re.search(r"no emojis?", voice) and _EMOJI.search(script.narration() + script.title):
        reasons.append("brand voice says no emojis: remove them")
    if re.search(r"no exclamation", voice) and "!" in script.narration():
        reasons.append("brand voice says no exclamation marks: use periods")
    if re.search(r"no clickbait", voice):
        found = [w for w in CLICKBAIT if _contains_phrase(text, w)]
        if found:
            reasons.append("brand voice says no clickbait: remove " + ", ".join(found))
    return reasons


def _profanity(text: str, qa: ScriptQASettings) -> list[str]:
    words = set(_WORD.findall(text))
    found = sorted({w for w in (*PROFANITY, *(p.lower() for p in qa.profanity)) if w in words})
    return ["remove profanity: " + ", ".join(found)] if found else []


def _normal_number(token: str) -> str:
    return token.replace(",", "").rstrip(".")


def _claims(text: str, topic: Topic) -> list[str]:
    """Numbers and authority claims must be backed by the topic's own text (title, summary, facts)."""
    source = " ".join([topic.title, topic.summary, *topic.facts]).lower()
    known = {_normal_number(n) for n in _NUMBER.findall(source)}
    unbacked = sorted({_normal_number(n) for n in _NUMBER.findall(text)} - known)
    reasons = []
    if unbacked:
        reasons.append("unsupported numbers not in the source: " + ", ".join(unbacked)
                       + "; use only numbers from the topic's facts")
    if not any(w in source for w in SOURCE_WORDS):
        claims = [c for c in AUTHORITY if _contains_phrase(text, c)]
        if claims:
            reasons.append("unsupported claim (" + ", ".join(claims) + "): the source cites no study or report")
    return reasons


def check_script(script: Script, project: ProjectSettings, pipeline: PipelineSettings,
                 topic: Topic | None = None, qa: ScriptQASettings | None = None) -> QAReport:
    """Every QA_SCRIPT check; `topic` enables the claims check, `qa` tunes the thresholds."""
    qa = qa or ScriptQASettings()
    text = script.narration()
    lowered = " ".join([script.title, text, script.description]).lower()
    words = len(text.split())
    checks: dict[str, list[str]] = {
        "duration": _duration(words, pipeline, qa),
        "hook": _hook(script, qa),
        "beats": [] if script.beats else ["the script has no beats"],
        "banned": (lambda b: ["remove banned phrases: " + ", ".join(b)] if b else [])(
            [p for p in project.banned_phrases if _contains_phrase(lowered, p)]),
        "voice": _voice(lowered, script, project, qa),
        "profanity": _profanity(lowered, qa),
    }
    if topic is not None and qa.check_claims:
        checks["claims"] = _claims(text.lower(), topic)
    reasons = [r for found in checks.values() for r in found]
    failed = sum(1 for found in checks.values() if found)
    low, high = duration_band(pipeline, qa)
    return QAReport(
        gate=GATE,
        passed=not reasons,
        score=round(max(0.0, 1 - failed / len(checks)), 3),
        threshold=1.0,
        reasons=reasons,
        metrics={"words": float(words), "seconds": round(words * 60 / pipeline.words_per_minute, 2),
                 "beats": float(len(script.beats)), "band_low_s": round(low, 2), "band_high_s": round(high, 2),
                 "checks_failed": float(failed)},
    )
