"""The Topic contract: what a video is about, cleaned and checked wherever one is built.

Every entry point (CLI, dashboard, bot, trend items, calendar) constructs a `Topic`, so the rules live in
its validators: control characters and terminal escape codes are removed, the title is one trimmed line,
and title and summary have length limits. A person's input goes through `Topic.checked` (a one-line
`TopicError`); machine-made topics through `Topic.from_source` (over-long text is cut, not refused).
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

TITLE_MAX = 200
SUMMARY_MAX = 4000

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings
    r"|\x1b[ -/]*[0-~]?"  # two-byte escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# Bidirectional overrides and isolates reorder what a reader sees ("Trojan source"); no title needs them.
_BIDI = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_SPACES = re.compile(r"\s+")
_LINE_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_NOT_WORD = re.compile(r"[\W_]+")


class TopicError(ValueError):
    """A topic that cannot start a run; the message names the problem and the fix in one line."""


def _strip_controls(text: str, keep: str = "") -> str:
    text = _ANSI.sub("", text).translate(_BIDI)
    return "".join(c if c in keep or c.isspace() or unicodedata.category(c) != "Cc" else "" for c in text)


def clean_line(text: str) -> str:
    """One printable line: escape codes and control characters removed, whitespace runs made one space."""
    return _SPACES.sub(" ", _strip_controls(text)).strip()


def clean_text(text: str) -> str:
    """Printable paragraphs: like `clean_line`, but line breaks stay (at most one blank line in a row)."""
    text = _strip_controls(text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
                           .replace("\u2029", "\n\n"), keep="\n")
    lines = [_LINE_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def normalise(title: str) -> str:
    """The comparable form of a title: case, width, punctuation and spacing do not make a new topic."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", clean_line(title)).casefold()).strip()


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary to at most `limit` characters, ending in an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "…"


def _error(text: str) -> PydanticCustomError:
    return PydanticCustomError("topic", text.replace("{", "(").replace("}", ")"))


class Topic(BaseModel):
    title: str
    summary: str = ""
    facts: list[str] = Field(default_factory=list)
    source_urls: list[str] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        title = clean_line(value)
        if not title:
            raise _error('the topic is empty (after removing spaces and control characters): give the video '
                         'a subject, e.g. "Why small tests catch big bugs"')
        if len(title) > TITLE_MAX:
            raise _error(f"the topic title is {len(title)} characters; the limit is {TITLE_MAX}: shorten it "
                         "and put the detail in the summary")
        return title

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        summary = clean_text(value)
        if len(summary) > SUMMARY_MAX:
            raise _error(f"the topic summary is {len(summary)} characters; the limit is {SUMMARY_MAX}: "
                         "shorten it")
        return summary

    @field_validator("facts")
    @classmethod
    def _facts(cls, value: list[str]) -> list[str]:
        return [fact for fact in map(clean_line, value) if fact]

    @classmethod
    def checked(cls, title: str, summary: str = "", facts: list[str] | None = None,
                source_urls: list[str] | None = None) -> Topic:
        """A topic from a person's input, or a `TopicError` saying what to fix."""
        try:
            return cls(title=title, summary=summary, facts=facts or [], source_urls=source_urls or [])
        except ValidationError as exc:
            raise TopicError("; ".join(err["msg"] for err in exc.errors())) from None

    @classmethod
    def from_source(cls, title: str, summary: str = "", facts: list[str] | None = None,
                    source_urls: list[str] | None = None) -> Topic:
        """A topic from a machine (trend item, calendar): over-long text is shortened; blank still fails."""
        return cls.checked(shorten(clean_line(title), TITLE_MAX), shorten(clean_text(summary), SUMMARY_MAX),
                           facts, source_urls)
