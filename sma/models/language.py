"""Language tags (BCP-47) as a project names them, and the few facts every stage keys on.

The script writer, the voice chain, the recognisers and the caption fonts all look a language up by its
primary subtag ("es" for "es-MX"); the full tag is kept for engines that tell regions apart.
"""

from __future__ import annotations

import re

DEFAULT_LANGUAGE = "en"

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German", "it": "Italian",
    "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian", "el": "Greek", "tr": "Turkish",
    "ar": "Arabic", "he": "Hebrew", "hi": "Hindi", "ja": "Japanese", "ko": "Korean", "zh": "Chinese",
    "th": "Thai", "vi": "Vietnamese", "id": "Indonesian", "sv": "Swedish", "cs": "Czech", "ro": "Romanian",
}

UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my"})
"""Languages written without spaces between words: word counts and word error rates mean little there."""


def normalize_tag(tag: str) -> str:
    """`es_mx` -> `es-MX`, `zh-hant` -> `zh-Hant`; raises ValueError naming the expected shape."""
    value = (tag or "").strip()
    if not _TAG.fullmatch(value):
        raise ValueError(f"{tag!r} is not a BCP-47 language tag; use e.g. 'en', 'es', 'pt-BR', 'zh-Hans'")
    parts = value.replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())  # script
        else:
            out.append(part.lower())
    return "-".join(out)


def primary_language(tag: str | None) -> str:
    """The primary subtag every table is keyed on; empty or None means the default, English."""
    return (tag or DEFAULT_LANGUAGE).replace("_", "-").split("-")[0].lower() or DEFAULT_LANGUAGE


def language_name(tag: str) -> str:
    """A human name for prompts and notes ("Spanish (es-MX)"); the tag itself for an unknown language."""
    name = LANGUAGE_NAMES.get(primary_language(tag))
    return f"{name} ({tag})" if name else tag
