"""Insight generation: each confident finding of the analysis becomes one sentence with its numbers.

The sentence says the effect, its 90% credible interval, how sure the analysis is and on how many posts,
because it is read by people (`sma insights`, the dashboard) and by the scriptwriter as-is. `key` is stable
for the slot a finding fills ("hook:tiktok" = the best hook on TikTok), so a later run that finds a
different winner updates that memory instead of adding a contradicting one.
"""

from __future__ import annotations

from datetime import datetime

from sma.models.intelligence import FeatureEffect, GroupEstimate, Insight, IntelligenceReport
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.features import DAYPARTS

FEATURE_SUBJECT = {"has_code": "Videos with code on screen", "has_diagram": "Videos with a diagram",
                   "has_image": "Videos with a generated image", "weekend": "Videos posted at weekends"}
FEATURE_REST = {"has_code": "videos without", "has_diagram": "videos without", "has_image": "videos without",
                "weekend": "weekday posts"}
NUMERIC = {"length_s": "Each extra {per:g} s of video length", "words_per_minute": "Each extra {per:g} words per "
           "minute of narration"}


def pct(p: float) -> str:
    return ">99.9%" if p >= 0.999 else f"{p * 100:.1f}%"


def ratio(v: float) -> str:
    return f"{v:.2f}x"


def _hours(name: str) -> str:
    for part, start, end in DAYPARTS:
        if part == name:
            return f"{start:02d}-{end:02d} h local"
    return ""


def _sure(e: GroupEstimate) -> tuple[str, float]:
    if e.lift >= 1:
        return f"probability better {pct(e.p_better)}", e.p_better
    return f"probability worse {pct(1 - e.p_better)}", 1 - e.p_better


def _evidence(e: GroupEstimate, report: IntelligenceReport, window: str) -> list[str]:
    return [f"{e.name}: {e.n} posts, geometric mean viral score {e.mean_score:.2f}", f"rest: {e.n_rest} posts",
            f"lift {ratio(e.lift)}, 90% credible interval {ratio(e.low)}-{ratio(e.high)}",
            f"P(better) {pct(e.p_better)}, P(best of its comparison) {pct(e.p_best)}, Cohen's d {e.effect_d:+.2f}",
            f"claim survives Holm's correction over {report.tests} comparisons at alpha {report.alpha:g}",
            f"posts published {window}"]


def _insight(key: str, kind: str, platform: str, subject: str, text: str, e: GroupEstimate,
             report: IntelligenceReport, window: str, date: str) -> Insight:
    _, probability = _sure(e)
    return Insight(key=key, kind=kind, platform=platform, subject=subject, text=text,  # type: ignore[arg-type]  # str fields; pydantic checks the Literals
                   direction="better" if e.lift >= 1 else "worse", lift=e.lift, low=e.low, high=e.high,
                   probability=probability, p_best=e.p_best, n=e.n, n_rest=e.n_rest,
                   evidence=_evidence(e, report, window), date=date)


def _hook_insights(report: IntelligenceReport, window: str, date: str) -> list[Insight]:
    out = []
    for hooks in report.hooks:
        better = sorted([g for g in hooks.groups if g.confident and g.lift > 1], key=lambda g: -g.lift)
        worse = [g for g in hooks.groups if g.confident and g.lift < 1]
        for rank, g in enumerate(better):
            sure, _ = _sure(g)
            text = (f"On {hooks.platform}, {g.name.replace('_', ' ')} hooks score {ratio(g.lift)} the other hook "
                    "styles "
                    f"(90% credible interval {ratio(g.low)}-{ratio(g.high)}; {sure}, probability it is the best style "
                    f"{pct(g.p_best)}; {g.n} {g.name} posts vs {g.n_rest} others, {window}).")
            key = f"hook:{hooks.platform}" if rank == 0 else f"hook:{hooks.platform}:{g.name}"
            out.append(_insight(key, "hook", hooks.platform, g.name, text, g, report, window, date))
        for g in worse:
            sure, _ = _sure(g)
            text = (f"On {hooks.platform}, {g.name.replace('_', ' ')} hooks score {ratio(g.lift)} the other hook "
                    "styles "
                    f"(90% credible interval {ratio(g.low)}-{ratio(g.high)}; {sure}; {g.n} {g.name} posts vs "
                    f"{g.n_rest} others, {window}). Prefer other styles there.")
            out.append(_insight(f"hook:{hooks.platform}:avoid:{g.name}", "hook", hooks.platform, g.name, text, g,
                                report, window, date))
    return out


def _feature_text(f: FeatureEffect, window: str) -> str:
    interval = f"90% interval {ratio(f.low)}-{ratio(f.high)}"
    if f.kind == "numeric":
        lead = NUMERIC.get(f.feature, f"Each extra {f.per:g} of {f.feature}").format(per=f.per)
        return (f"{lead} multiplies the viral score by {f.ratio:.2f} ({interval} per step; correlation "
                f"r = {f.effect_size:+.2f}; {f.n} posts, all platforms, {window}).")
    if f.feature in FEATURE_SUBJECT:
        subject, rest = FEATURE_SUBJECT[f.feature], FEATURE_REST[f.feature]
    elif f.feature == "topic_cluster":
        subject, rest = f"Videos on the topic '{f.level}'", "other topics"
    elif f.feature == "music_tier":
        subject, rest = f"Videos with {f.level} music", "other music"
    elif f.feature == "daypart":
        subject, rest = f"Videos posted in the {f.level} ({_hours(f.level)})", "other times of day"
    else:
        subject, rest = f"Videos with {f.feature} = {f.level}", "the rest"
    return (f"{subject} score {ratio(f.ratio)} {rest} ({interval}; Cohen's d {f.effect_size:+.2f}; "
            f"{f.n} vs {f.n_rest} posts, all platforms, each against its own platform's average, {window}).")


def _feature_insights(report: IntelligenceReport, window: str, date: str) -> list[Insight]:
    out = []
    for f in report.features:
        if not f.confident:
            continue
        binary = f.feature in FEATURE_SUBJECT
        key = f"feature:{f.feature}" if binary or f.kind == "numeric" else f"feature:{f.feature}:{f.level}"
        probability = 1 - f.p_value / 2
        out.append(Insight(key=key, kind="feature", text=_feature_text(f, window), subject=f"{f.feature}={f.level}"
                           if f.level else f.feature, direction="better" if f.ratio >= 1 else "worse", lift=f.ratio,
                           low=f.low, high=f.high, probability=probability, n=f.n, n_rest=f.n_rest, date=date,
                           evidence=[f"effect size {f.effect_size:+.2f}", f"two-sided p {f.p_value:.4f}",
                                     f"claim survives Holm's correction over {report.tests} comparisons at alpha "
                                     f"{report.alpha:g}", f"posts published {window}"]))
    return out


def _segment(dimension: str, name: str) -> str:
    if dimension == "topic":
        return f"the topic '{name}'"
    if dimension == "format":
        return f"{name} videos" if name != "plain" else "videos without code, diagrams or images"
    return f"posts in the {name} ({_hours(name)})"


def _audience_insights(report: IntelligenceReport, window: str, date: str) -> list[Insight]:
    out = []
    for fp in report.fingerprints:
        for dimension, estimates in fp.comparisons.items():
            better = sorted([e for e in estimates if e.confident and e.lift > 1], key=lambda e: -e.lift)
            for rank, e in enumerate(better):
                sure, _ = _sure(e)
                text = (f"On {fp.platform}, this audience responds best to {_segment(dimension, e.name)}: "
                        f"{ratio(e.lift)} the rest (90% credible interval {ratio(e.low)}-{ratio(e.high)}; {sure}; "
                        f"{e.n} vs {e.n_rest} posts, {window}).")
                key = f"audience:{fp.platform}:{dimension}" + ("" if rank == 0 else f":{e.name}")
                out.append(_insight(key, "audience", fp.platform, f"{dimension}={e.name}", text, e, report, window,
                                    date))
            for e in (e for e in estimates if e.confident and e.lift < 1):
                sure, _ = _sure(e)
                text = (f"On {fp.platform}, {_segment(dimension, e.name)} score {ratio(e.lift)} the rest (90% credible "
                        f"interval {ratio(e.low)}-{ratio(e.high)}; {sure}; {e.n} vs {e.n_rest} posts, {window}): "
                        "this audience responds less to them.")
                out.append(_insight(f"audience:{fp.platform}:{dimension}:avoid:{e.name}", "audience", fp.platform,
                                    f"{dimension}={e.name}", text, e, report, window, date))
    return out


def make_insights(report: IntelligenceReport, config: IntelligenceSettings, as_of: datetime) -> list[Insight]:
    """The confident findings of `report` as insights (an empty list when nothing is sure enough)."""
    window = f"{report.since.date().isoformat()} to {as_of.date().isoformat()}"
    date = as_of.date().isoformat()
    return [*_hook_insights(report, window, date), *_feature_insights(report, window, date),
            *_audience_insights(report, window, date)]
