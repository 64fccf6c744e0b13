"""Reviewer feedback as typed, measurable requests for the next script.

A rejection's free text ("too long", "use a question hook", "don't mention Kubernetes") is parsed into
`FeedbackChange`s the template writer applies and the LLM writer gets as explicit instructions. Parsing is
clause by clause; matchers run in a fixed order and blank what they consumed, so "cut it down to 20
seconds" is a length request and never "drop 'it'". A clause nothing matched is reported as not
understood, so the run's notes can say so while the writer still changes the script.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from sma.models.pipeline import HookStyle, Script

ChangeKind = Literal["shorter", "longer", "length", "hook_style", "new_hook", "simpler", "energy", "calmer", "mention",
                     "drop", "new_example", "variation"]
SHORTER_FACTOR = 2 / 3
LONGER_FACTOR = 3 / 2
# Relative to the previous script: "shorter" means at most this share of its words, "longer" at least.
SHORTER_THAN_PREVIOUS = 0.75
LONGER_THAN_PREVIOUS = 4 / 3
MAX_CHARS = 2000


class FeedbackChange(BaseModel):
    """One requested change and the words that asked for it."""

    kind: ChangeKind
    phrase: str = ""
    term: str = Field("", description="mention/drop: the word or name, as the reviewer wrote it")
    hook_style: HookStyle | None = None
    seconds: float | None = Field(None, description="shorter/longer: an explicit duration")
    words: int | None = Field(None, description="shorter/longer: an explicit word count")


class FeedbackRequest(BaseModel):
    """One reviewer message, parsed."""

    text: str
    changes: list[FeedbackChange] = Field(default_factory=list)
    not_understood: list[str] = Field(default_factory=list)


class FeedbackPlan(BaseModel):
    """Every round's feedback folded into what the next script must do."""

    length_factor: float = 1.0
    seconds: float | None = None
    words: int | None = None
    latest_length: Literal["shorter", "longer", ""] = Field("", description="asked by the newest message")
    hook_style: HookStyle | None = None
    new_hook: bool = False
    simpler: bool = False
    energy: Literal["more", "less", ""] = ""
    mentions: list[str] = Field(default_factory=list)
    drops: list[str] = Field(default_factory=list)
    new_example: bool = False
    vary: bool = Field(False, description="the newest message asked for nothing specific: vary hook and order")
    applied: list[str] = Field(default_factory=list, description="what the newest message asked, in words")
    not_understood: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- matchers

_CLAUSE = re.compile(r"[.;!?\n]+|,?\s+\bbut\b\s+|,\s*(?:and|also|plus|then)\s+|\s+\b(?:and|also|plus)\b\s+(?=\w)",
                     re.IGNORECASE)
_STYLE_WORDS: dict[HookStyle, str] = {
    "question": r"questions?",
    "bold_claim": r"bold(?:[ _-]claim|[ _-]statement)?|strong (?:claim|statement)",
    "statistic": r"statistics?|stats?|numbers?|figures?|data points?|facts? with a number",
    "story": r"story|stories|anecdotes?|storytelling|narrative",
    "contrarian": r"contrarian|hot take|controversial|counter-?intuitive|myth[- ]?bust\w*",
    "how_to": r"how[ _-]?to|tutorial|step[ -]by[ -]step",
}
# Styles distinctive enough to be named without the word "hook".
_DISTINCT = {"bold_claim": r"bold[ _-]claim|bold statement", "contrarian": r"contrarian|hot take",
             "story": r"anecdote|tell (?:it as )?a story|(?:like|want|try|use|need|as) a story",
             "question": r"ask a question",
             "how_to": r"how[ _-]to (?:hook|style|format)"}
_HOOK_WORD = r"hook|open\w*|start\w*|begin\w*|lead\w*|intro\w*|first (?:line|sentence)|kick\w* off|style"
_DURATION = re.compile(
    r"(?:(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>s\b|secs?\b|seconds?\b|words?\b|min\b|mins\b|minutes?\b)"
    r"|(?P<half>half a minute|30 seconds)|(?P<one>(?:a|one) minute))", re.IGNORECASE)
_SHORTER = re.compile(
    r"\b(?:not short enough|shorter|too long|shorten\w*|trim\w*|tighten\w*|tighter|condense\w*|briefer|"
    r"more concise|be concise|concise|less long|too wordy|wordy|drags?|dragging|too many words|fewer words|"
    r"cut (?:it |this |that |the script )?(?:down|back|short)|cut (?:it )?in half|halve it|quicker|faster to watch|"
    r"keep it short|make it short|too slow|reduce the length|cut to)\b",
    re.IGNORECASE)
_LONGER = re.compile(
    r"\b(?:not long enough|longer|too short|lengthen\w*|expand\w*|extend\w*|more detail\w*|more depth|"
    r"go deeper|more words|flesh (?:it |this )?out|elaborate|more content|too brief|fill it out)\b",
    re.IGNORECASE)
_HOOK_RE = re.compile(rf"\b(?:{_HOOK_WORD})\b", re.IGNORECASE)
# With a hook word in the same clause: the reviewer wants another hook ("the hook is weak", "new intro").
_HOOK_CHANGE = re.compile(
    r"\b(?:different|another|new|better|stronger|change|changed|boring|weak|bad|meh|lame|fix|redo|rework|"
    r"improve|catchier|punchier|snappier|grabs?|grabbing|hooky|other|sucks|dull|flat|not good|cut|drop|remove|"
    r"skip|lose)\b", re.IGNORECASE)
_SIMPLER = re.compile(
    r"\b(?:simpler|simplify|simple|plain(?:er)?|easier|jargon\w*|too technical|less technical|"
    r"dumb(?:ed)? (?:it )?down|eli5|like i'?m five|beginners?|accessible|layman'?s?|complicated|complex|"
    r"confusing|hard to follow|hard to understand|too advanced|clearer|fancy words|big words|shorter words)\b",
    re.IGNORECASE)
_ENERGY = re.compile(
    r"\b(?:more energy|energy|energetic|excit\w*|hype (?:it )?up|pump (?:it )?up|enthusias\w*|livel(?:y|ier)|"
    r"punch(?:y|ier)|more dynamic|dynamic|boring|dull|flat|monotone|more fun|upbeat|passion\w*|more life|"
    r"sleepy|lifeless|bland)\b", re.IGNORECASE)
_AT_MOST = re.compile(r"\b(?:under|at most|max(?:imum)?|no more than|less than|within|tops|down to)\b", re.IGNORECASE)
_AT_LEAST = re.compile(r"\b(?:at least|more than|over|minimum|min)\b", re.IGNORECASE)
_CALMER = re.compile(
    r"\b(?:calm(?:er)?|less (?:energy|hype|hyped|excited|shouty|intense|exclamation\w*)|tone (?:it )?down|"
    r"too (?:hyped|loud|excited|shouty|intense|energetic|salesy)|more relaxed|chill(?:er)?|quieter|"
    r"more serious|less salesy|too much hype)\b", re.IGNORECASE)
_EXAMPLE = re.compile(r"\b(?:examples?|analog(?:y|ies)|use cases?|illustration)\b", re.IGNORECASE)
_VARIATION = re.compile(
    r"\b(?:try again|redo|re-?do it|another (?:take|version|angle|go)|different (?:take|version|angle|approach)|"
    r"something (?:else|different)|start over|one more time|new angle|rejected without a reason)\b", re.IGNORECASE)
_TERM = r"(?P<t>[\w#+][\w.+#/'-]*(?:\s+[\w#+][\w.+#/'-]*){0,4})"
_DROP = re.compile(
    r"\b(?:(?:don'?t|do not|never|stop|no need to|please don'?t)\s+(?:mention|talk about|say|bring up|include|"
    r"discuss|focus on|go on about)(?:ing)?|(?:drop|remove|cut|skip|leave out|omit|lose|avoid|delete|"
    r"get rid of|without|no more|no mention of|nothing about|less about|less on|less|enough about|"
    r"too much about|too much on|stop with)(?:\s+(?:the|any|all))?(?:\s+(?:part|bit|mentions?|stuff|lines?|"
    r"section|talk|references?)\s*(?:about|on|of|to)?)?)\s+" + _TERM, re.IGNORECASE)
_NOT_TERM = re.compile(r"(?:^|,\s*)not\s+" + _TERM, re.IGNORECASE)  # "mention Go, not Rust"
_QUOTE = re.compile(r"(?<!\w)['\"\u2018\u2019\u201c\u201d]|['\"\u2018\u2019\u201c\u201d](?!\w)")
_MENTION = re.compile(
    r"\b(?:mention|include|add|cover|discuss|explain|feature|highlight|bring up|talk (?:a bit |a little |more )?"
    r"about|say (?:something|more|a bit) about|something about|a bit about|a line about|more about|more on|"
    r"focus (?:more )?on|emphasi[sz]e|what about|how about|don'?t forget)"
    r"(?:\s+(?:something|a bit|a line|a part|a beat|more)\s+(?:about|on))?\s+" + _TERM, re.IGNORECASE)
_TERM_STOP = re.compile(
    r"\s+\b(?:and|but|please|pls|plz|too|more|as well|instead|again|in the|at the|for the|from|because|since|"
    r"so|anymore|any more|entirely|completely|at all|altogether|though|maybe|thanks|thank you|a lot|"
    r"rather|first|now|here|there|next|this time|in it|in there|in the video|in the script|much)\b.*$",
    re.IGNORECASE)
_TERM_LEAD = re.compile(r"^(?:(?:the|a|an|about|on|of|some|any|all|more|how|why|its?)\s+)+", re.IGNORECASE)
_NOT_TERMS = {"it", "this", "that", "them", "those", "these", "thing", "things", "stuff", "one", "part",
              "everything", "anything", "something", "nothing", "more", "less", "much", "video", "script", "a",
              "an", "the", "to", "of", "on", "in", "down", "up", "than", "with", "for", "at", "by", "out", "bit",
              "reason", "reasons", "doubt"}
_FILLER_WORDS = {
    "please", "pls", "plz", "thanks", "thank", "you", "ok", "okay", "the", "a", "an", "it", "this", "that", "and",
    "but", "also", "just", "maybe", "i", "think", "would", "be", "nice", "great", "good", "make", "can", "could",
    "video", "script", "much", "bit", "little", "lot", "very", "really", "so", "then", "hey", "hi", "well", "yes",
    "no", "nope", "hmm", "is", "was", "its", "it's", "not", "quite", "there", "again", "let's", "lets", "do",
}
_WORDISH = re.compile(r"[a-z][a-z']*")


def _clean_term(raw: str) -> str:
    term = _TERM_STOP.sub("", raw.strip())
    term = _TERM_LEAD.sub("", term).strip(" .,'\"-")
    words = [w.lower() for w in term.split()]
    if not words or all(w in _NOT_TERMS or w in _FILLER_WORDS for w in words) or len(term) < 2:
        return ""
    return term


def _blank(text: str, match: re.Match[str]) -> str:
    """The text with the match replaced by a clause break, so later matchers cannot reuse its words."""
    return text[:match.start()] + " | " + text[match.end():]


def _duration_change(clause: str) -> tuple[FeedbackChange | None, str]:
    """An explicit length ("cut it down to 20 seconds", "under 80 words"); its direction only when said."""
    match = _DURATION.search(clause)
    if match is None:
        return None, clause
    seconds: float | None = None
    words: int | None = None
    if match.group("half"):
        seconds = 30.0
    elif match.group("one"):
        seconds = 60.0
    else:
        value = float(match.group("num"))
        unit = match.group("unit").lower()
        if unit.startswith("w"):
            words = int(value)
        else:
            seconds = value * 60 if unit.startswith("m") else value
    kind: ChangeKind = "length"
    if _SHORTER.search(clause) or _AT_MOST.search(clause):
        kind = "shorter"
    elif _LONGER.search(clause) or _AT_LEAST.search(clause):
        kind = "longer"
    return FeedbackChange(kind=kind, phrase=clause.strip(), seconds=seconds, words=words), _blank(clause, match)


def _style_change(clause: str) -> FeedbackChange | None:
    lowered = clause.lower()
    has_hook_word = _HOOK_RE.search(lowered) is not None
    for style, words in _STYLE_WORDS.items():
        named = re.search(rf"\b(?:{words})\b", lowered)
        distinct = style in _DISTINCT and re.search(rf"\b(?:{_DISTINCT[style]})\b", lowered)
        if (named and has_hook_word) or distinct:
            return FeedbackChange(kind="hook_style", phrase=clause.strip(), hook_style=style)
    return None


_FLAGS: tuple[tuple[re.Pattern[str], ChangeKind], ...] = (
    (_CALMER, "calmer"), (_ENERGY, "energy"), (_SIMPLER, "simpler"), (_EXAMPLE, "new_example"),
    (_VARIATION, "variation"))


def _parse_clause(clause: str) -> list[FeedbackChange]:
    changes: list[FeedbackChange] = []
    phrase = clause.strip()
    duration, rest = _duration_change(clause)
    if duration is not None:
        changes.append(duration)
        rest = _AT_MOST.sub(" | ", _AT_LEAST.sub(" | ", rest))
    style = _style_change(rest)
    if style is not None:
        changes.append(style)
        rest = re.sub(rf"\b(?:{'|'.join(_STYLE_WORDS.values())}|{_HOOK_WORD})\b", " | ", rest, flags=re.IGNORECASE)
    elif _HOOK_RE.search(rest) and _HOOK_CHANGE.search(rest):
        changes.append(FeedbackChange(kind="new_hook", phrase=phrase))
        rest = _HOOK_RE.sub(" | ", rest)
    for pattern, kind in _FLAGS:
        if pattern.search(rest) is not None:
            if kind != "energy" or not any(c.kind == "calmer" for c in changes):
                changes.append(FeedbackChange(kind=kind, phrase=phrase))
            rest = pattern.sub(" | ", rest)
    rest = re.sub(r"\bnot (?:any )?(?:longer|shorter)\b", " | ", rest, flags=re.IGNORECASE)
    for pattern, kind in ((_LONGER, "longer"), (_SHORTER, "shorter")):
        if pattern.search(rest) is not None:
            if duration is None and not any(c.kind in ("shorter", "longer") for c in changes):
                changes.append(FeedbackChange(kind=kind, phrase=phrase))
            rest = pattern.sub(" | ", rest)
    for pattern, kind in ((_DROP, "drop"), (_NOT_TERM, "drop"), (_MENTION, "mention")):
        for match in pattern.finditer(rest):
            term = _clean_term(match.group("t"))
            if term:
                changes.append(FeedbackChange(kind=kind, phrase=phrase, term=term))
        rest = pattern.sub(" | ", rest)
    return changes


def parse_feedback(text: str) -> FeedbackRequest:
    """The changes one reviewer message asks for, and its clauses that asked for nothing known.

    Only the first `MAX_CHARS` characters are read: feedback is a few sentences, and the bound keeps the
    matchers' cost small whatever arrives from a chat."""
    request = FeedbackRequest(text=text)
    last_kind = ""
    for raw in _CLAUSE.split(text[:MAX_CHARS]):
        clause = " ".join(_QUOTE.sub(" ", raw).split()).strip(" ,:-")
        if not clause:
            continue
        changes = _parse_clause(clause)
        if not changes and last_kind in ("mention", "drop") and len(clause.split()) <= 3:
            term = _clean_term(clause)  # "mention Rust and Go": Go is another term of the same request
            if term:
                changes = [FeedbackChange(kind=last_kind, phrase=clause, term=term)]  # type: ignore[arg-type]  # str kind; pydantic checks the Literal
        if changes:
            request.changes.extend(changes)
            last_kind = changes[-1].kind
            continue
        content = [w for w in _WORDISH.findall(clause.lower()) if w not in _FILLER_WORDS]
        if content:
            request.not_understood.append(clause)
        last_kind = ""
    return request


# ---------------------------------------------------------------- folding rounds


def describe(change: FeedbackChange) -> str:
    """A change in a few words, for notes and the LLM prompt."""
    if change.kind in ("shorter", "longer", "length"):
        size = f"{change.seconds:g} s" if change.seconds else f"{change.words} words" if change.words else ""
        return f"{change.kind} ({size})" if size else change.kind
    if change.kind == "hook_style":
        return f"hook style {change.hook_style}"
    if change.kind in ("mention", "drop"):
        return f"{change.kind} '{change.term}'"
    return change.kind.replace("_", " ")


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def plan_feedback(feedback: list[str]) -> FeedbackPlan:
    """Every round's feedback, oldest first, folded into one plan (see the module docstring)."""
    plan = FeedbackPlan()
    parsed = [parse_feedback(text) for text in feedback if text.strip()]
    for index, request in enumerate(parsed):
        newest = index == len(parsed) - 1
        for change in request.changes:
            if change.kind in ("shorter", "longer", "length"):
                if change.seconds or change.words:
                    plan.seconds, plan.words, plan.length_factor = change.seconds, change.words, 1.0
                elif change.kind != "length":
                    plan.length_factor *= SHORTER_FACTOR if change.kind == "shorter" else LONGER_FACTOR
                if newest and change.kind != "length":
                    plan.latest_length = change.kind
            elif change.kind == "hook_style":
                plan.hook_style = change.hook_style
            elif change.kind == "simpler":
                plan.simpler = True
            elif change.kind in ("energy", "calmer"):
                plan.energy = "more" if change.kind == "energy" else "less"
            elif change.kind == "mention":
                plan.drops = [t for t in plan.drops if not _same(t, change.term)]
                if not any(_same(t, change.term) for t in plan.mentions):
                    plan.mentions.append(change.term)
            elif change.kind == "drop":
                plan.mentions = [t for t in plan.mentions if not _same(t, change.term)]
                if not any(_same(t, change.term) for t in plan.drops):
                    plan.drops.append(change.term)
            elif newest and change.kind == "new_hook":
                plan.new_hook = True
            elif newest and change.kind == "new_example":
                plan.new_example = True
            elif newest and change.kind == "variation":
                plan.vary = True
        if newest:
            plan.applied = list(dict.fromkeys(describe(c) for c in request.changes))
            if not request.changes:
                plan.vary = True
        plan.not_understood += [c for c in request.not_understood if c not in plan.not_understood]
    return plan


# ---------------------------------------------------------------- checking a script against a plan


def has_term(text: str, term: str) -> bool:
    """The term as a whole word or phrase, case-insensitive."""
    return re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", text, re.IGNORECASE) is not None


def word_count(script: Script) -> int:
    return len(script.narration().split())


def unmet(plan: FeedbackPlan, script: Script, previous: Script | None) -> list[str]:
    """The measurable requests of the plan this script does not honour, phrased for notes."""
    text = script.narration()
    problems: list[str] = []
    if previous is not None:
        if text == previous.narration():
            problems.append("the narration is the same as the previous round's")
        words, before = word_count(script), word_count(previous)
        if plan.latest_length == "shorter" and words >= before:
            problems.append(f"asked for shorter, but it has {words} words (previous {before})")
        if plan.latest_length == "longer" and words <= before:
            problems.append(f"asked for longer, but it has {words} words (previous {before})")
        if plan.new_hook and script.hook_style == previous.hook_style and plan.hook_style is None:
            problems.append(f"asked for another hook, but the style is still {script.hook_style}")
    if plan.hook_style is not None and script.hook_style != plan.hook_style:
        problems.append(f"asked for a {plan.hook_style} hook, but the style is {script.hook_style}")
    problems += [f"asked to mention '{t}', but it is not said" for t in plan.mentions if not has_term(text, t)]
    problems += [f"asked to drop '{t}', but it is still said" for t in plan.drops if has_term(text, t)]
    return problems
