"""QA_SCRIPT: the checks a script must pass before any voice is spent on it."""

from __future__ import annotations

import re

from sma.models.common import QAReport
from sma.models.pipeline import Script
from sma.settings import PipelineSettings, ProjectSettings

MIN_SECONDS = 8.0
MAX_SECONDS = 90.0


def check_script(script: Script, project: ProjectSettings, pipeline: PipelineSettings) -> QAReport:
    """Duration band, hook in the first sentence, banned phrases; reasons are phrased as corrections."""
    reasons: list[str] = []
    text = script.narration()
    words = len(text.split())
    seconds = words * 60 / pipeline.words_per_minute
    if seconds < MIN_SECONDS:
        reasons.append(f"too short: {seconds:.0f} s at {pipeline.words_per_minute} wpm, make it longer")
    if seconds > MAX_SECONDS:
        reasons.append(f"too long: {seconds:.0f} s at {pipeline.words_per_minute} wpm, make it shorter")
    hook = script.hook.strip()
    if not hook or len(re.findall(r"[.!?](\s|$)", hook)) > 1:
        reasons.append("the hook must be a single first sentence")
    if not script.beats:
        reasons.append("the script has no beats")
    lowered = text.lower()
    banned = [p for p in project.banned_phrases if p.lower() in lowered]
    if banned:
        reasons.append("remove banned phrases: " + ", ".join(banned))
    checks = 4
    return QAReport(
        gate="QA_SCRIPT",
        passed=not reasons,
        score=round(max(0.0, 1 - len(reasons) / checks), 3),
        threshold=1.0,
        reasons=reasons,
        metrics={"words": float(words), "seconds": round(seconds, 2), "beats": float(len(script.beats))},
    )
