"""WER normalisation: a script and a transcript that say the same thing score 0; wrong words still count."""

from __future__ import annotations

import pytest

from sma.services.qa.audio import _compound_edit_distance, word_error_rate
from sma.services.qa.normalize import normalize_text, numbers_to_digits


def words(text: str) -> str:
    return " ".join(normalize_text(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It's 3.5x faster, 42% cheaper and costs $20.",
         "it is 3.5 times faster 42 percent cheaper and costs 20 dollar"),
        ("three point five times faster, forty-two per cent cheaper, twenty dollars",
         "3.5 times faster 42 percent cheaper 20 dollar"),
        ("Don't, won't, can't, dont, we're, I've, you'll, he'd",
         "do not will not can not do not we are i have you will he would"),
        ("'Couldn't save' the company's draft", "could not save the companys draft"),
        ("open-source CI/CD on Node.js, e.g. example.com", "open source ci cd on node js eg example com"),
        ("um, uh, hmm, we're done [MUSIC]", "we are done"),
        ("Colour, optimise, Optimisation, analysing, licence, catalogue, modelling",
         "color optimize optimization analyzing license catalog modeling"),
        ("Café \u2014 r\u00e9sum\u00e9\u2019s", "cafe resumes"),
        ("HTTP/2 or HTTP slash two", "http 2 or http 2"),
        ("C++ and R&D", "c plus plus and r and d"),
        ("tabs\tand\nnewlines|pipes", "tabs and newlines pipes"),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("twenty five", "25"),
        ("one hundred and twenty", "120"),
        ("two thousand and five", "2005"),
        ("ten thousand requests", "10000 requests"),
        ("10,000 requests", "10000 requests"),
        ("100 ,000 lines", "100000 lines"),  # Whisper's words joined with spaces
        ("ten million rows", "10,000,000 rows"),
        ("10 million rows", "10000000 rows"),
        ("one point five million dollars", "$1.5 million"),
        ("a thousand tokens", "1000 tokens"),
        ("one point two point three", "1.2.3"),
        ("zero point five", "0 .5"),
        ("twenty twenty four", "2024"),
        ("twenty fifteen", "2015"),
        ("nineteen ninety nine", "1999"),
        ("the twenty first of may", "the 21st of may"),
        ("the first and the third", "the 1st and the 3rd"),
        ("the second release", "the 2nd release"),
        ("twenty second", "22nd"),
        ("four point five to one", "4.5 to 1"),
        ("three x faster", "3x faster"),
        ("forty two percent", "42%"),
        ("twelve thousand dollars", "$12,000"),
    ],
)
def test_spelled_and_written_numbers_agree(spoken: str, written: str) -> None:
    assert normalize_text(spoken) == normalize_text(written)


def test_number_words_that_are_not_numbers_stay_words() -> None:
    assert numbers_to_digits(["per", "second", "a", "second", "opinion", "and", "a", "hundred"]) == [
        "per", "second", "a", "second", "opinion", "and", "100"]
    assert numbers_to_digits(["point", "five"]) == ["point", "5"]
    assert words("nine times out of ten") == "9 times out of 10"


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("Push it to GitHub", "push it to git hub"),
        ("an open source tool", "an opensource tool"),
        ("The CLI you use", "The C -L -I you use"),
        ("Add a pre-commit hook", "Add a pre -commit hook"),
        ("you'll never retype it", "you'll never re -type it"),
        ("Pin it to v2", "pin it to v two"),
        ("saves everyone time", "saves every one time"),
        ("It's 3x faster for 1% of users in 2024",
         "it is three times faster for one percent of users in twenty twenty four"),
        ("We cut the bill from $12,000 to $7,500.", "We cut the bill from 12 ,000 dollars to 7500 dollars"),
        ("Optimise the colour", "optimize the color"),
    ],
)
def test_same_speech_scores_zero(reference: str, hypothesis: str) -> None:
    assert word_error_rate(reference, hypothesis) == 0.0


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("mark one good commit", "mark won good commit", 1),  # a homophone is still a different word
        ("caching is easy", "cashing is easy", 1),
        ("use gRPC inside", "use g e r p c inside", 5),  # other letters: no compound match
        ("push to github", "push to git lab", 2),
        ("the cat sat", "the cat sat thank you very much", 4),
    ],
)
def test_wrong_words_still_count(reference: str, hypothesis: str, errors: int) -> None:
    assert word_error_rate(reference, hypothesis) * len(normalize_text(reference)) == pytest.approx(errors)


def test_compound_match_is_bounded_and_exact() -> None:
    assert _compound_edit_distance(["abcde"], list("abcde")) == 5  # longer than a 4-word run: no match
    assert _compound_edit_distance(["abcd"], list("abcd")) == 0
    assert _compound_edit_distance(list("abcd"), ["abcd"]) == 0
    assert _compound_edit_distance(["github", "page"], ["git", "hub", "pages"]) == 1
    assert _compound_edit_distance([], ["x"]) == 1 and _compound_edit_distance(["x"], []) == 1


def test_word_error_rate_edge_cases() -> None:
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "noise") == 1.0
    assert word_error_rate("hello", "") == 1.0
    assert word_error_rate("um", "") == 0.0  # only a filler: nothing to say
    assert word_error_rate("one two three four", "one two three") == 0.25
