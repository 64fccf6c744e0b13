"""Reviewer feedback: the parser, the fold across rounds, and the template writer applying it measurably.

The table holds many natural phrasings per kind; for each, round 2's script must differ from round 1's,
honour the measurable part (word count, hook style, a term said or not) and still pass QA_SCRIPT.
"""

from __future__ import annotations

import re
import time

import pytest

from sma.models.pipeline import Script, ScriptRequest, Topic
from sma.services.llm.config import ScriptQASettings
from sma.services.qa.script import check_script
from sma.services.script.feedback import FeedbackChange, has_term, parse_feedback, plan_feedback, unmet
from sma.services.script.template import TemplateScriptWriter
from sma.settings import PipelineSettings, ProjectSettings

PROJECT = ProjectSettings(id="p", niche="developer tools", platforms=["local", "youtube"])
RICH = Topic(
    title="Kubernetes sidecars are finally stable",
    summary="Kubernetes 1.29 made native sidecar containers stable, and teams can utilize them to facilitate "
            "logging without additional tooling. Sidecars now start before the main container and stop after "
            "it. Rust services benefit because their sidecars no longer race the app. Service meshes were the "
            "first to adopt the feature.",
    facts=["Kubernetes 1.29 shipped in December 2023.", "Istio and Linkerd support native sidecars.",
           "A sidecar restarts on its own when it crashes."],
)
THIN = Topic(title="Small tests catch big bugs",
             summary="A small test runs in a second. It catches the bug before your users do.")
CASES: list[tuple[Topic, PipelineSettings]] = [
    (RICH, PipelineSettings(target_seconds=40)),
    (THIN, PipelineSettings(target_seconds=7)),  # the pipeline tests' short script
    (THIN, PipelineSettings(target_seconds=30)),
]

# (phrase, expected change) — the expected change's kind and, where it has one, its value.
TABLE: list[tuple[str, tuple[str, str]]] = [
    ("make it shorter", ("shorter", "")),
    ("too long", ("shorter", "")),
    ("Way too long.", ("shorter", "")),
    ("cut it down to 20 seconds", ("shorter", "20")),
    ("shorten it please", ("shorter", "")),
    ("it drags, trim it", ("shorter", "")),
    ("can you make it more concise?", ("shorter", "")),
    ("keep it under 30 seconds", ("shorter", "30")),
    ("make it longer", ("longer", "")),
    ("too short", ("longer", "")),
    ("it's not long enough", ("longer", "")),
    ("go deeper, more detail", ("longer", "")),
    ("please expand on it", ("longer", "")),
    ("shorter, not longer", ("shorter", "")),
    ("use a question hook", ("hook_style", "question")),
    ("Start with a question", ("hook_style", "question")),
    ("open with a stat", ("hook_style", "statistic")),
    ("hook should be a statistic", ("hook_style", "statistic")),
    ("try a story hook", ("hook_style", "story")),
    ("tell it as a story", ("hook_style", "story")),
    ("open with an anecdote", ("hook_style", "story")),
    ("I'd like a story", ("hook_style", "story")),
    ("give me a hot take", ("hook_style", "contrarian")),
    ("contrarian hook please", ("hook_style", "contrarian")),
    ("open with a bold claim", ("hook_style", "bold_claim")),
    ("make the hook a how-to", ("hook_style", "how_to")),
    ("the hook is weak", ("new_hook", "")),
    ("different hook", ("new_hook", "")),
    ("the opening is boring", ("new_hook", "")),
    ("cut the intro", ("new_hook", "")),
    ("simpler words please", ("simpler", "")),
    ("too technical", ("simpler", "")),
    ("less jargon", ("simpler", "")),
    ("explain it like I'm five", ("simpler", "")),
    ("more energy!", ("energy", "")),
    ("it's boring", ("energy", "")),
    ("make it more exciting", ("energy", "")),
    ("sounds flat, pump it up", ("energy", "")),
    ("tone it down", ("calmer", "")),
    ("too hyped, calmer please", ("calmer", "")),
    ("don't mention Kubernetes", ("drop", "Kubernetes")),
    ("do not mention kubernetes at all", ("drop", "kubernetes")),
    ("drop the part about Kubernetes", ("drop", "Kubernetes")),
    ("no more Kubernetes please", ("drop", "Kubernetes")),
    ("leave out Istio", ("drop", "Istio")),
    ("less about Kubernetes", ("drop", "Kubernetes")),
    ("Mention Istio, not Kubernetes", ("drop", "Kubernetes")),
    ("don't say \"stable\"", ("drop", "stable")),
    ("talk about Rust more", ("mention", "Rust")),
    ("mention Rust", ("mention", "Rust")),
    ("say something about Podman", ("mention", "Podman")),
    ("what about Rust?", ("mention", "Rust")),
    ("focus on Linkerd", ("mention", "Linkerd")),
    ("include service meshes", ("mention", "service meshes")),
    ("add a bit about WebAssembly", ("mention", "WebAssembly")),
    ("Can you mention that it's open source?", ("mention", "that it's open source")),
    ("different example", ("new_example", "")),
    ("use another example", ("new_example", "")),
    ("the example is weak", ("new_example", "")),
    ("try again", ("variation", "")),
    ("give it another angle", ("variation", "")),
]
GIBBERISH = ["asdkj qwe zzz", "blorp the frobnicator", "I don't like the colours", "meh, purple"]


def _value(change: FeedbackChange) -> str:
    if change.kind in ("mention", "drop"):
        return change.term
    if change.kind == "hook_style":
        return change.hook_style or ""
    return f"{change.seconds or change.words or ''}".removesuffix(".0")


@pytest.mark.parametrize(("phrase", "expected"), TABLE, ids=[p for p, _ in TABLE])
def test_parser_reads_each_phrasing(phrase: str, expected: tuple[str, str]) -> None:
    parsed = parse_feedback(phrase)
    assert expected in [(c.kind, _value(c)) for c in parsed.changes], parsed
    assert parsed.not_understood == []


def test_parser_splits_clauses_and_keeps_what_it_did_not_understand() -> None:
    parsed = parse_feedback("Make it shorter and use nicer colours. Also mention Rust and Go; no more Kubernetes")
    assert [(c.kind, _value(c)) for c in parsed.changes] == [
        ("shorter", ""), ("mention", "Rust"), ("mention", "Go"), ("drop", "Kubernetes")]
    assert parsed.not_understood == ["use nicer colours"]
    # A length request never reads as "drop 'it'", and an explicit duration keeps its number.
    cut = parse_feedback("cut it down to 20 seconds")
    assert [(c.kind, c.seconds) for c in cut.changes] == [("shorter", 20.0)]
    assert [(c.kind, c.words) for c in parse_feedback("no more than 60 words").changes] == [("shorter", 60)]
    assert [c.kind for c in parse_feedback("make it 45 seconds").changes] == ["length"]
    for text in GIBBERISH:
        assert parse_feedback(text).changes == [] and parse_feedback(text).not_understood, text
    assert parse_feedback("thanks!").not_understood == []  # politeness asks for nothing
    # The workflow's text for a rejection without feedback asks for another take, not to drop "reason".
    assert [c.kind for c in parse_feedback("rejected without a reason").changes] == ["variation"]


def test_parser_reads_long_or_hostile_text_quickly() -> None:
    """Chat text is untrusted: only the first MAX_CHARS are read, with no quadratic matcher on them."""
    started = time.perf_counter()
    for text in ("hook " * 3000, "drop " * 3000, "mention a " * 2000, "a" * 50_000, "!" * 20_000):
        parse_feedback(text)
    assert time.perf_counter() - started < 2.0


def test_plan_folds_rounds() -> None:
    plan = plan_feedback(["make it shorter, mention Rust", "use a story hook", "shorter again and drop Rust"])
    assert plan.length_factor == pytest.approx((2 / 3) ** 2) and plan.latest_length == "shorter"
    assert plan.hook_style == "story" and plan.mentions == [] and plan.drops == ["Rust"]
    assert plan.applied == ["shorter", "drop 'Rust'"] and not plan.vary
    later = plan_feedback(["cut it to 30 seconds", "make it longer", "zzz qqq"])
    assert later.seconds == 30 and later.length_factor == 1.5 and later.latest_length == ""
    assert later.vary and later.not_understood == ["zzz qqq"]


# ---------------------------------------------------------------- the template writer over the table


def _writer(pipeline: PipelineSettings) -> TemplateScriptWriter:
    return TemplateScriptWriter(pipeline, ScriptQASettings())


def _round(topic: Topic, pipeline: PipelineSettings, feedback: list[str],
           previous: Script | None) -> tuple[Script, list[str]]:
    req = ScriptRequest(project_id="p", run_id="r", topic=topic, feedback=feedback, previous=previous)
    return _writer(pipeline).compose(req, PROJECT)


def _mean_sentence_words(text: str) -> float:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    return len(text.split()) / len(sentences)


def _long_words(text: str) -> int:
    return sum(1 for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 10)


@pytest.mark.parametrize(("topic", "pipeline"), CASES, ids=["rich-40s", "thin-7s", "thin-30s"])
@pytest.mark.parametrize(("phrase", "expected"), TABLE, ids=[p for p, _ in TABLE])
def test_round_two_differs_and_honours_the_feedback(topic: Topic, pipeline: PipelineSettings, phrase: str,
                                                    expected: tuple[str, str]) -> None:
    first, _ = _round(topic, pipeline, [], None)
    second, notes = _round(topic, pipeline, [phrase], first)
    text, before = second.narration(), first.narration()
    assert text != before
    plan = plan_feedback([phrase])
    problems = unmet(plan, second, first)
    kind, value = expected
    if kind == "hook_style" and value == "statistic" and not any(c.isdigit() for c in " ".join(topic.facts)):
        assert any("no number" in n for n in notes) and second.hook_style != "statistic"
        problems = [p for p in problems if "statistic hook" not in p]
    assert problems == [], (problems, before, text)
    words = len(text.split())
    if kind == "shorter":
        assert words < len(before.split())
    elif kind == "longer":
        assert words > len(before.split())
    elif kind == "drop":
        assert not has_term(text, value) and not any(value.lower() in t for t in second.hashtags)
    elif kind == "mention":
        assert has_term(text, value)
    elif kind == "new_hook":
        assert second.hook_style != first.hook_style
    elif kind == "energy":
        assert text.count("!") > before.count("!")
    elif kind == "calmer":
        assert "!" not in text
    elif kind == "simpler" and topic is RICH:
        assert _mean_sentence_words(text) < _mean_sentence_words(before) and _long_words(text) < _long_words(before)
    report = check_script(second, PROJECT, pipeline, topic, ScriptQASettings())
    assert report.passed, (report.reasons, text)
    assert any(n.startswith("feedback applied: ") for n in notes)
    assert second == _round(topic, pipeline, [phrase], first)[0]  # deterministic


@pytest.mark.parametrize("gibberish", GIBBERISH)
def test_feedback_not_understood_still_changes_the_script_and_is_named(gibberish: str) -> None:
    for topic, pipeline in CASES:
        first, _ = _round(topic, pipeline, [], None)
        second, notes = _round(topic, pipeline, [gibberish], first)
        assert second.narration() != first.narration()
        assert second.hook_style != first.hook_style
        assert any("not understood" in n and gibberish in n for n in notes), notes
        assert check_script(second, PROJECT, pipeline, topic, ScriptQASettings()).passed


def test_every_round_of_a_long_run_differs_from_the_one_before() -> None:
    feedback = ["make it shorter", "make it shorter", "not yet", "use a question hook", "use a question hook",
                "more energy", "more energy", "simpler words"]
    for topic, pipeline in CASES:
        previous, _ = _round(topic, pipeline, [], None)
        for n in range(1, len(feedback) + 1):
            script, _ = _round(topic, pipeline, feedback[:n], previous)
            assert script.narration() != previous.narration(), (n, script.narration())
            assert check_script(script, PROJECT, pipeline, topic, ScriptQASettings()).passed, n
            previous = script


def test_without_the_previous_script_the_writer_recomputes_it() -> None:
    """The CLI (`sma script -f ...`) has no previous round: the writer compares with its own first draft."""
    pipeline = PipelineSettings(target_seconds=40)
    first, _ = _round(RICH, pipeline, [], None)
    assert _round(RICH, pipeline, ["make it shorter"], None)[0] == _round(RICH, pipeline, ["make it shorter"], first)[0]


def test_brand_voice_rules_still_hold_under_feedback() -> None:
    strict = PROJECT.model_copy(update={"brand_voice": "calm; no hype, no exclamation marks"})
    pipeline = PipelineSettings(target_seconds=40)
    writer = _writer(pipeline)
    base = ScriptRequest(project_id="p", run_id="r", topic=RICH)
    first = writer.write(base, strict)
    loud = writer.write(base.model_copy(update={"feedback": ["more energy!"], "previous": first}), strict)
    assert "!" not in loud.narration() and loud.narration() != first.narration()
    assert check_script(loud, strict, pipeline, RICH, ScriptQASettings()).passed
    # Dropping a word of the niche takes it out of the call to action too.
    no_tools = writer.write(base.model_copy(update={"feedback": ["don't mention tools"], "previous": first}), strict)
    assert not has_term(no_tools.narration(), "tools")
