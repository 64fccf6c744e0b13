"""Word error rate normalisation for languages other than English.

Every language gets the generic part: NFKC, lowercase, [annotations] dropped, accents stripped (a
recogniser writes "el" or "él" as it hears fit), punctuation removed, Unicode letters and digits kept.
Spanish adds its own spelled numbers ("veintitrés" -> "23", "dos mil veinticuatro" -> "2024",
"uno coma cinco" -> "1.5"), number punctuation ("10.000" and "1,5"), symbols and fillers. Languages
written without spaces (Chinese, Japanese, Thai) are compared character by character, the usual CER.
"""

from __future__ import annotations

import re
import unicodedata

from sma.models.language import UNSPACED, primary_language

_ANNOTATIONS = re.compile(r"\[[^\]]*\]|<[^>]*>")
_MARKS = re.compile(r"[\u0300-\u036f]")


def _strip_marks(text: str) -> str:
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFKD", text)))


def _letters_and_digits(text: str) -> list[str]:
    """Words of Unicode letters and digits; a dot between digits (a decimal) is kept."""
    words = []
    for token in text.split():
        kept = "".join(ch for ch in token if unicodedata.category(ch)[0] in "LN" or ch == ".")
        kept = re.sub(r"(?<!\d)\.|\.(?!\d)", "", kept)
        if kept:
            words.append(kept)
    return words


# ---------------------------------------------------------------- Spanish

_ES_UNITS: dict[str, int] = {
    "cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21,
    "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24, "veinticinco": 25,
    "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29,
}
_ES_TENS = {"treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
            "noventa": 90}
_ES_HUNDREDS = {"cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300, "cuatrocientos": 400,
                "quinientos": 500, "seiscientos": 600, "setecientos": 700, "ochocientos": 800, "novecientos": 900}
_ES_HUNDREDS.update({k[:-2] + "as": v for k, v in _ES_HUNDREDS.items() if k.endswith("os")})
_ES_SCALES = {"mil": 10**3, "millon": 10**6, "millones": 10**6}
_ES_FILLERS = frozenset({"eh", "ehm", "em", "emm", "mm", "mmm", "hmm", "ah", "uh", "um"})
_ES_WORDS = {"dolares": "dolar", "euros": "euro", "libras": "libra"}
_ES_PER_CENT = re.compile(r"\bpor\s+ciento\b")
_ES_SYMBOLS = {"%": " porciento ", "&": " y ", "+": " mas ", "=": " igual a ", "@": " arroba ",
               "€": " euro ", "$": " dolar ", "£": " libra "}
_ES_THOUSANDS = re.compile(r"(?<=\d)[.\s](?=\d{3}\b)")
_ES_DECIMAL = re.compile(r"(?<=\d),(?=\d)")
_CURRENCY_FIRST = re.compile(r"([$€£])\s?(\d[\d.]*)")


def _es_number(words: list[str], i: int) -> tuple[str, int] | None:
    """A spelled Spanish number starting at words[i] as digits, and the index after it."""
    total, current, last, after_mil, j = 0, 0, "", False, i
    while j < len(words):
        word = words[j]
        if word in _ES_UNITS and last != "unit" and not (last == "tens" and _ES_UNITS[word] >= 10):
            current, last = current + _ES_UNITS[word], "unit"
        elif word in _ES_TENS and last in ("", "hundred", "scale"):
            current, last = current + _ES_TENS[word], "tens"
        elif word == "y" and last == "tens" and j + 1 < len(words) and 0 < _ES_UNITS.get(words[j + 1], 0) < 10:
            pass
        elif word in _ES_HUNDREDS and last in ("", "scale") and current == 0:
            current, last = _ES_HUNDREDS[word], "hundred"
        elif word == "mil" and not after_mil:
            total, current, last, after_mil = total + (current or 1) * 1000, 0, "scale", True
        elif word in ("millon", "millones") and (last != "scale" or after_mil):
            total, current, last, after_mil = ((total + current) or 1) * 10**6, 0, "scale", False
        else:
            break
        j += 1
    if j == i:
        return None
    value = str(total + current)
    if j + 1 < len(words) and words[j] in ("coma", "punto") and 0 <= _ES_UNITS.get(words[j + 1], 10) < 10:
        k, decimals = j + 1, ""
        while k < len(words) and 0 <= _ES_UNITS.get(words[k], 10) < 10:
            decimals, k = decimals + str(_ES_UNITS[words[k]]), k + 1
        value, j = f"{value}.{decimals}", k
    return value, j


def _es_numbers(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            value, i = word, i + 1
            while i < len(words) and words[i] in _ES_SCALES and "." not in value:
                value, i = str(int(value) * _ES_SCALES[words[i]]), i + 1
            out.append(value)
            continue
        spelled = _es_number(words, i)
        if spelled is None:
            out.append(word)
            i += 1
        else:
            value, i = spelled
            out.append(value)
    return out


def _spanish(text: str) -> list[str]:
    text = _ES_DECIMAL.sub(".", _ES_THOUSANDS.sub("", text))
    text = _CURRENCY_FIRST.sub(lambda m: f"{m.group(2)} {m.group(1)}", text)
    for symbol, word in _ES_SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _ES_PER_CENT.sub(" porciento ", re.sub(r"[-\u2010-\u2015/_]", " ", _strip_marks(text)))
    words = [w for w in _letters_and_digits(text) if w not in _ES_FILLERS]
    words = " ".join(_ES_WORDS.get(w, w) for w in words).split()
    return _es_numbers(words)


# ---------------------------------------------------------------- any language


def normalize_other(text: str, language: str) -> list[str]:
    """The words of `text` for comparing a script with a transcript in `language` (not English)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ANNOTATIONS.sub(" ", text)
    lang = primary_language(language)
    if lang == "es":
        return _spanish(text)
    if lang in UNSPACED:
        return [ch for ch in text if unicodedata.category(ch)[0] in "LN"]
    return _letters_and_digits(re.sub(r"[-\u2010-\u2015/_]", " ", _strip_marks(text)))
