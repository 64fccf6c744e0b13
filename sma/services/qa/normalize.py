"""Text normalisation for word error rate: the script and what Whisper heard, written the same way.

QA_TTS compares a script with a reverse transcription. Writing differences are not errors: "3" or "three",
"it's" or "it is", "open-source" or "open source", "42%" or "forty-two percent", "colour" or "color". This
follows the approach of Whisper's EnglishTextNormalizer (OpenAI's evaluation normaliser), applied to both
sides:

- lowercase and NFKC; [bracketed] annotations and fillers (um, uh, hmm) dropped;
- contractions expanded ("don't" -> "do not"), with the unambiguous apostrophe-less forms ("dont");
- spelled numbers -> digits ("twenty five" -> "25", "one point five million" -> "1500000",
  "twenty twenty four" -> "2024", "twenty first" -> "21st"); digit groups joined ("10,000" -> "10000");
- symbols -> words: "%" -> "percent", "$20" -> "20 dollar", "3x" -> "3 times", "&" -> "and", "+" -> "plus";
- hyphens, slashes and dots between letters split words ("open-source", "CI/CD", "Node.js"), and the
  word "slash" is dropped (some voices read "/", some do not);
- a British -> American spelling subset ("colour", "optimise", "licence").

Word boundaries themselves ("GitHub" / "git hub", "CLI" / "C L I") are left to the alignment
(sma.services.qa.audio.word_error_rate), which can match one word to a run of words with the same letters.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from sma.models.language import primary_language
from sma.services.qa.normalize_i18n import normalize_other

# ---------------------------------------------------------------- words

FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "hmm", "hm", "mm", "mmm", "mhm", "ah", "huh"})

_CONTRACTIONS: dict[str, str] = {
    "won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not", "ain't": "is not",
    "let's": "let us", "it's": "it is", "that's": "that is", "there's": "there is", "here's": "here is",
    "what's": "what is", "who's": "who is", "where's": "where is", "how's": "how is", "he's": "he is",
    "she's": "she is", "y'all": "you all", "gonna": "going to", "wanna": "want to", "gotta": "got to",
}
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'m", " am"), ("'d", " would"))
# Without the apostrophe, only the forms that are not also ordinary words (not "cant", "wont", "well", "were").
_BARE_CONTRACTIONS: dict[str, str] = {
    **{f"{w}nt": f"{w} not" for w in ("do", "does", "did", "is", "are", "was", "were", "could", "should", "would",
                                      "has", "have", "had", "must", "need")},
    "youre": "you are", "theyre": "they are", "im": "i am", "ive": "i have", "youve": "you have",
    "weve": "we have", "theyve": "they have", "youll": "you will", "theyll": "they will", "thats": "that is",
    "whats": "what is", "theres": "there is", "heres": "here is",
}
_OTHER_WORDS: dict[str, str] = {
    "okay": "ok", "vs": "versus", "etc": "et cetera",
    "dollars": "dollar", "euros": "euro", "pounds": "pound", "cents": "cent",
}

_BRITISH_US: dict[str, str] = {
    "colour": "color", "favour": "favor", "favourite": "favorite", "behaviour": "behavior", "honour": "honor",
    "labour": "labor", "neighbour": "neighbor", "flavour": "flavor", "humour": "humor", "rumour": "rumor",
    "armour": "armor", "harbour": "harbor", "vapour": "vapor", "endeavour": "endeavor", "savour": "savor",
    "centre": "center", "metre": "meter", "litre": "liter", "theatre": "theater", "fibre": "fiber",
    "kilometre": "kilometer", "centimetre": "centimeter", "millimetre": "millimeter", "calibre": "caliber",
    "licence": "license", "defence": "defense", "offence": "offense", "pretence": "pretense",
    "catalogue": "catalog", "dialogue": "dialog", "analogue": "analog", "programme": "program",
    "grey": "gray", "maths": "math", "aluminium": "aluminum", "cheque": "check", "tyre": "tire",
    "modelling": "modeling", "modelled": "modeled", "labelling": "labeling", "labelled": "labeled",
    "travelling": "traveling", "travelled": "traveled", "traveller": "traveler", "cancelling": "canceling",
    "cancelled": "canceled", "signalling": "signaling", "signalled": "signaled", "fuelled": "fueled",
    "levelled": "leveled", "tunnelling": "tunneling", "marshalling": "marshaling", "enrolment": "enrollment",
    "fulfil": "fulfill", "skilful": "skillful", "judgement": "judgment", "ageing": "aging", "towards": "toward",
    "learnt": "learned", "spelt": "spelled", "burnt": "burned", "dreamt": "dreamed", "whilst": "while",
    "amongst": "among", "sceptical": "skeptical", "manoeuvre": "maneuver", "plough": "plow", "artefact": "artifact",
}
for _stem in ("optim", "organ", "real", "recogn", "priorit", "minim", "maxim", "custom", "initial", "serial",
              "synchron", "author", "normal", "visual", "util", "summar", "standard", "categor", "emphas",
              "apolog", "capital", "final", "special", "general", "central", "monet", "token", "container",
              "virtual", "parallel", "vector", "memor", "modern", "personal", "stabil", "sanit", "character",
              "local", "global", "digit", "critic", "prior", "random", "quant", "symbol"):
    for _gb, _us in (("ise", "ize"), ("ised", "ized"), ("ises", "izes"), ("ising", "izing"), ("iser", "izer"),
                     ("isers", "izers"), ("isation", "ization"), ("isations", "izations")):
        _BRITISH_US[_stem + _gb] = _stem + _us
for _gb, _us in (("analyse", "analyze"), ("paralyse", "paralyze"), ("catalyse", "catalyze")):
    for _end in ("", "s", "d"):
        _BRITISH_US[_gb + _end] = _us + _end
    _BRITISH_US[_gb[:-1] + "ing"] = _us[:-1] + "ing"

# ---------------------------------------------------------------- numbers


def _numbered(names: str, start: int = 0, step: int = 1) -> dict[str, int]:
    return {name: start + step * i for i, name in enumerate(names.split())}


_ONES = _numbered("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                  "sixteen seventeen eighteen nineteen")
_TENS = _numbered("twenty thirty forty fifty sixty seventy eighty ninety", 20, 10)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_ORD_ONES = _numbered("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                      "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth", 1)
_ORD_TENS = _numbered("twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth", 20, 10)
_ONE_AFTER = frozenset({"every", "any", "some", "no"})  # "every one" may be "everyone" said with a pause
_DIGITS = re.compile(r"\d+(?:\.\d+)*")
_ORDINAL_DIGITS = re.compile(r"(\d+)(st|nd|rd|th)")


def _ordinal(n: int) -> str:
    """Digits and suffix, except "2nd" alone, which is written "second" (a word that is mostly the unit)."""
    if n == 2:
        return "second"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _digit_word(token: str) -> str | None:
    if token in _ONES and _ONES[token] < 10:
        return str(_ONES[token])
    return token if token.isdigit() and len(token) == 1 else None


def _scaled(value: str, words: list[str], i: int) -> tuple[str, int]:
    """`value` times the scale words that follow ("1.5 million" -> "1500000"), and where they end."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value, i
    scaled = False
    while i < len(words) and (words[i] in _SCALES or words[i] == "hundred"):
        number *= _SCALES.get(words[i], 100)
        scaled, i = True, i + 1
    if not scaled:
        return value, i
    return (str(int(number)) if number == number.to_integral_value() else format(number.normalize(), "f")), i


def _decimals(value: str, words: list[str], i: int) -> tuple[str, int]:
    """ "point five" after a whole number, repeated for versions ("one point two point three" -> 1.2.3)."""
    while i + 1 < len(words) and words[i] == "point" and _digit_word(words[i + 1]) is not None:
        value += "."
        i += 1
        while i < len(words) and (digit := _digit_word(words[i])) is not None:
            value, i = value + digit, i + 1
    return value, i


def _starts_pair(word: str) -> bool:
    return word in _TENS or (word in _ONES and _ONES[word] >= 10)


def _spelled(words: list[str], i: int) -> tuple[str, int] | None:
    """A spelled number starting at words[i] as digits (or an ordinal), and the index after it."""
    total, current, last, start = 0, 0, "", i
    if words[i] == "a" and i + 1 < len(words) and (words[i + 1] in _SCALES or words[i + 1] == "hundred"):
        current, last, i = 1, "ones", i + 1
    while i < len(words):
        word = words[i]
        if word in _ONES and last not in ("ones", "teen") and not (last == "tens" and _ONES[word] >= 10):
            current, last = current + _ONES[word], "teen" if _ONES[word] >= 10 else "ones"
        elif word in _TENS and last not in ("ones", "teen", "tens"):
            current, last = current + _TENS[word], "tens"
        elif _starts_pair(word) and last in ("teen", "tens") and total == 0 and current in (19, 20):
            # A year read in pairs: "nineteen ninety", "twenty twenty four", "twenty fifteen".
            if word in _ONES:
                return str(current * 100 + _ONES[word]), i + 1
            later = _TENS[word] + (_ONES[words[i + 1]] if i + 1 < len(words) and words[i + 1] in _ONES
                                   and 0 < _ONES[words[i + 1]] < 10 else 0)
            return str(current * 100 + later), i + (2 if later % 10 else 1)
        elif word == "hundred" and last in ("ones", "teen", "tens") and current % 100 == current < 100:
            current, last = current * 100, "hundred"
        elif word in _SCALES and last in ("ones", "teen", "tens", "hundred"):
            total, current, last = total + current * _SCALES[word], 0, "scale"
        elif word == "and" and last in ("hundred", "scale") and i + 1 < len(words) and (
                words[i + 1] in _ONES or words[i + 1] in _TENS):
            pass
        elif word in _ORD_ONES and last not in ("ones", "teen") and (word != "second" or last):
            return _ordinal(total + current + _ORD_ONES[word]), i + 1
        elif word in _ORD_TENS and last not in ("ones", "teen", "tens"):
            return _ordinal(total + current + _ORD_TENS[word]), i + 1
        elif word in ("hundredth", "thousandth", "millionth") and last in ("ones", "teen", "tens", "hundred"):
            return _ordinal((total + current) * (100 if word == "hundredth" else _SCALES[word[:-2]])), i + 1
        else:
            break
        i += 1
    if i == start:
        return None
    value = str(total + current)
    if last in ("ones", "teen", "tens") and total == 0:
        value, i = _decimals(value, words, i)
        value, i = _scaled(value, words, i)
    return value, i


def numbers_to_digits(words: list[str]) -> list[str]:
    """Spelled numbers become digits, digit strings absorb the scale words after them, ordinals one form."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if _DIGITS.fullmatch(word):
            value, i = _scaled(word, words, i + 1)
            out.append(value)
            continue
        if m := _ORDINAL_DIGITS.fullmatch(word):
            out.append(_ordinal(int(m.group(1))))
            i += 1
            continue
        spelled = _spelled(words, i) if word != "one" or not out or out[-1] not in _ONE_AFTER else None
        if spelled is None:
            out.append(word)
            i += 1
        else:
            value, i = spelled
            out.append(value)
    return out


# ---------------------------------------------------------------- text

_ANNOTATIONS = re.compile(r"\[[^\]]*\]|<[^>]*>")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`\u00b4]")
_DIGIT_GROUPS = re.compile(r"(?<=\d) ?,(?=\d{3}\b)")  # "10,000" and Whisper's word-joined "100 ,000"
_SPLIT_DECIMAL = re.compile(r"(?<=\d) \.(?=\d)")  # Whisper's word-joined "0 .5"
_CURRENCY = re.compile(r"([$€£])\s?(\d[\d.]*)(\s+(?:hundred|thousand|million|billion|trillion)\b)?")
_CURRENCY_WORDS = {"$": "dollar", "€": "euro", "£": "pound"}
_TIMES = re.compile(r"(?<=\d)\s?x\b")
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at ", "=": " equals "}
_LETTER_DOTS = re.compile(r"\b(?:[a-z]\.){2,}")  # "e.g.", "u.s."
_WORD_BREAKS = re.compile(r"(?<=[a-z])\.(?=[a-z])|[-\u2010-\u2015/_:;,!?\"()]|\.(?!\d)|(?<!\d)\.")
_MARKS = re.compile(r"[\u0300-\u036f]")  # accents, once NFKD has split them off ("café" -> "cafe")
_OTHER = re.compile(r"[^a-z0-9.'\s]")
_PER_CENT = re.compile(r"\bper cent\b")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHES.sub("'", _ANNOTATIONS.sub(" ", text))
    text = _SPLIT_DECIMAL.sub(".", _DIGIT_GROUPS.sub("", text))
    text = _CURRENCY.sub(lambda m: f"{m.group(2)}{m.group(3) or ''} {_CURRENCY_WORDS[m.group(1)]}", text)
    text = _TIMES.sub(" times", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _LETTER_DOTS.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _WORD_BREAKS.sub(" ", text)
    text = _OTHER.sub(" ", _MARKS.sub("", unicodedata.normalize("NFKD", text)))
    text = _PER_CENT.sub("percent", " ".join(text.split()))
    return text.split()


def _expand(word: str) -> str:
    """Contractions spelled out; other apostrophes (quotes, possessives) dropped."""
    word = word.strip("'")
    if word in _CONTRACTIONS:
        return _CONTRACTIONS[word]
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)].replace("'", "") + replacement
    word = word.replace("'", "")
    return _BARE_CONTRACTIONS.get(word, word)


def normalize_text(text: str, language: str = "en") -> list[str]:
    """The words of `text` written one way, for comparing a script with a transcript of it.

    English gets the rules above; other languages get text_normalize_i18n's (generic, plus Spanish's).
    """
    if primary_language(language) != "en":
        return normalize_other(text, language)
    words: list[str] = []
    for word in _words(text):
        for part in _expand(word).split():
            part = part.strip(".")
            if part and part not in FILLERS and part != "slash":
                words.append(_BRITISH_US.get(part, _OTHER_WORDS.get(part, part)))
    words = numbers_to_digits(words)
    # "3x" was rewritten above; "three x" becomes "3 x" only now.
    return [("times" if w == "x" and i and words[i - 1][:1].isdigit() else w) for i, w in enumerate(words)]
