"""Captions: script alignment, ASS karaoke, QA_CAPTIONS, and the service over real Piper + faster-whisper."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from sma.models.common import Word
from sma.models.pipeline import CaptionRequest
from sma.services.artifacts import ArtifactStore
from sma.services.captions.align import align_to_script, snap_to_voice, tokenize_script
from sma.services.captions.ass import build_ass, paginate
from sma.services.captions.fonts import caption_font_file, fonts_dir
from sma.services.captions.service import CaptionService
from sma.services.qa.captions import check_captions
from sma.services.speech.whisper import Transcriber
from sma.services.voice.engines.piper import PiperEngine
from sma.settings import CaptionSettings, MediaSettings

FONT = fonts_dir() / "DejaVuSans-Bold.ttf"
SCRIPT = "Kubernetes schedules your pods, but who schedules Kubernetes? Let's find out in 30 seconds."


def words_of(text: str) -> list[str]:
    return text.split()


def heard(*items: tuple[str, float, float]) -> list[Word]:
    return [Word(text=t, start=s, end=e, probability=0.9) for t, s, e in items]


def even_words(texts: list[str], start: float = 0.0, step: float = 0.3, gap: float = 0.0) -> list[Word]:
    return [Word(text=t, start=start + i * step, end=start + (i + 1) * step - gap) for i, t in enumerate(texts)]


def assert_well_timed(words: list[Word]) -> None:
    for w in words:
        assert w.end - w.start >= 0.06 - 1e-9, w
    for a, b in itertools.pairwise(words):
        assert b.start >= a.end - 1e-9, (a, b)


# ---------------------------------------------------------------- alignment


def test_align_keeps_the_script_spelling_with_recognized_timing() -> None:
    recognized = heard(
        ("Cooper", 0.00, 0.30),
        ("Netties", 0.30, 0.62),
        ("schedules", 0.62, 1.10),
        ("your", 1.10, 1.25),
        ("pods,", 1.25, 1.60),
        ("but", 1.80, 1.95),
        ("who", 1.95, 2.10),
        ("schedules", 2.10, 2.50),
        ("Kubernetes?", 2.50, 3.20),
        ("Let's", 3.60, 3.80),
        ("find", 3.80, 4.00),
        ("out", 4.00, 4.10),
        ("in", 4.10, 4.20),
        ("thirty", 4.20, 4.50),
        ("seconds.", 4.50, 5.00),
    )
    words = align_to_script(SCRIPT, recognized)

    assert [w.text for w in words] == SCRIPT.split()
    assert_well_timed(words)
    # "Cooper Netties" was Whisper's try at "Kubernetes": the script word takes the whole span.
    assert (words[0].start, words[0].end) == (0.0, 0.62)
    # One-for-one substitutions keep their own timing.
    assert (words[-2].text, words[-2].start, words[-2].end) == ("30", 4.2, 4.5)
    assert (words[5].text, words[5].start, words[5].end) == ("who", 1.95, 2.1)


def test_align_interpolates_words_that_were_not_heard() -> None:
    words = align_to_script("one two three four", heard(("one", 0.0, 0.4), ("four", 1.0, 1.4)))
    assert [w.text for w in words] == ["one", "two", "three", "four"]
    assert (words[1].start, words[1].end, words[2].start, words[2].end) == (0.4, 0.7, 0.7, 1.0)
    assert words[1].probability == 0.0
    assert_well_timed(words)


def test_align_borrows_neighbour_time_when_squeezed() -> None:
    words = align_to_script("one two three four", heard(("one", 0.0, 0.5), ("four", 0.5, 1.0)))
    assert [w.text for w in words] == ["one", "two", "three", "four"]
    assert words[0].start == 0.0 and words[-1].end == 1.0
    assert_well_timed(words)


def test_align_repairs_overlapping_and_zero_length_recognition() -> None:
    recognized = heard(("a", 0.0, 0.0), ("b", 0.0, 0.3), ("c", 0.2, 0.25), ("d", 0.25, 0.25))
    words = align_to_script("a b c d", recognized, duration=1.0)
    assert_well_timed(words)
    assert words[-1].end <= 1.0


def test_align_clamps_to_the_audio_end() -> None:
    words = align_to_script("a b c d e", heard(("a", 0.0, 0.02), ("e", 0.2, 0.22)), duration=0.3)
    assert_well_timed(words)
    assert words[-1].end <= 0.3 + 1e-9


def test_align_without_recognition_spreads_over_the_duration() -> None:
    words = align_to_script("nothing was heard here", [], duration=2.0)
    assert [(w.start, w.end) for w in words] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)]


def test_tokenize_keeps_punctuation_and_attaches_bare_symbols() -> None:
    assert tokenize_script("- Wait \u2014 really?  Yes!") == ["- Wait \u2014", "really?", "Yes!"]


def test_snap_moves_late_starts_to_the_voice_onset_after_a_pause() -> None:
    words = heard(("a", 0.0, 0.5), ("b", 0.5, 0.9), ("c", 1.7, 1.8), ("d", 1.8, 2.0))
    snapped = snap_to_voice(words, [(0.0, 1.0), (1.4, 2.0)])
    assert [(w.start, w.end) for w in snapped] == [(0.0, 0.5), (0.5, 1.0), (1.4, 1.8), (1.8, 2.0)]


def test_snap_closes_gaps_inside_continuous_speech() -> None:
    snapped = snap_to_voice(heard(("a", 0.0, 0.5), ("b", 0.9, 1.2)), [(0.0, 1.3)])
    assert [(w.start, w.end) for w in snapped] == [(0.0, 0.5), (0.5, 1.2)]


def test_snap_cuts_a_swallowed_pause_out_of_a_word() -> None:
    words = heard(("a", 0.0, 0.4), ("b", 0.4, 1.6), ("c", 1.6, 2.0))
    snapped = snap_to_voice(words, [(0.0, 1.0), (1.5, 2.0)])
    assert [(w.start, w.end) for w in snapped] == [(0.0, 0.4), (0.4, 1.0), (1.5, 2.0)]
    assert [w.text for w in snapped] == ["a", "b", "c"]


# ---------------------------------------------------------------- ASS


def test_build_ass_pages_and_highlights_each_word() -> None:
    texts = words_of("Did you know that most developers spend more time reading code than writing it? {Yes} a\\Nb")
    words = even_words(texts, gap=0.05)
    ass = build_ass(words, 1080, 1920, "DejaVu Sans")

    assert "PlayResX: 1080" in ass and "PlayResY: 1920" in ass and "WrapStyle: 2" in ass
    assert "Style: Default,DejaVu Sans,68," in ass
    dialogues = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    assert len(dialogues) == len(words)
    assert all(line.count(r"{\c&H0000FFFF&\fscx110\fscy110}") == 1 for line in dialogues)
    assert r"{\c&H0000FFFF&\fscx110\fscy110}Did{\r} you know that most\Ndevelopers" in dialogues[0]
    # Braces and backslashes from the script are literal text, never override tags or line breaks.
    assert r"\{Yes\}" in ass and "a\\\u200bNb" in ass

    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    spans = [tuple(map(seconds, re.match(r"Dialogue: 0,([^,]+),([^,]+),", d).groups())) for d in dialogues]
    for (s1, e1), (s2, _e2) in itertools.pairwise(spans):
        assert s1 < e1 <= s2
    # Inside a page each highlight lasts until the next word starts: no flicker in the 50 ms gaps.
    assert spans[0][1] == spans[1][0]


def test_paginate_respects_line_length_and_sentence_ends() -> None:
    words = even_words(words_of("One two. Three four five six seven eight nine ten eleven twelve thirteen"))
    pages = paginate(words, max_line_chars=22, max_lines=2)
    assert [[words[i].text for i in line] for line in pages[0]] == [["One", "two."]]
    for page in pages:
        assert len(page) <= 2
        for line in page:
            assert len(" ".join(words[i].text for i in line)) <= 22


# ---------------------------------------------------------------- QA_CAPTIONS


def voiced_and_words() -> tuple[list[tuple[float, float]], list[Word]]:
    texts = words_of("this caption track follows the voice closely and reads well on a phone")
    first = even_words(texts[:7], start=0.2, step=0.3, gap=0.04)
    second = even_words(texts[7:], start=2.8, step=0.3, gap=0.04)
    return [(0.2, 2.3), (2.8, 4.6)], first + second


def test_qa_passes_well_timed_captions() -> None:
    voiced, words = voiced_and_words()
    report = check_captions(words, voiced, font_file=FONT)
    assert report.gate == "QA_CAPTIONS"
    assert report.passed, report.reasons
    assert report.metrics["coverage"] >= 0.95
    assert report.metrics["offset_s"] == 0.0
    assert report.metrics["font_present"] == 1.0


def test_qa_fails_captions_shifted_by_half_a_second() -> None:
    voiced, words = voiced_and_words()
    shifted = [w.model_copy(update={"start": w.start + 0.5, "end": w.end + 0.5}) for w in words]
    report = check_captions(shifted, voiced, font_file=FONT)
    assert not report.passed
    assert report.metrics["offset_s"] == pytest.approx(0.5, abs=0.02)
    assert any("late" in r for r in report.reasons)
    assert any("cover" in r for r in report.reasons)


def test_qa_fails_overlapping_words() -> None:
    voiced, words = voiced_and_words()
    words[3] = words[3].model_copy(update={"start": words[2].start + 0.1})
    report = check_captions(words, voiced, font_file=FONT)
    assert not report.passed
    assert any("overlap" in r for r in report.reasons)


def test_qa_fails_a_30_ms_word() -> None:
    voiced, words = voiced_and_words()
    words[4] = words[4].model_copy(update={"end": words[4].start + 0.03})
    report = check_captions(words, voiced, font_file=FONT)
    assert not report.passed
    assert any("shorter than 60 ms" in r for r in report.reasons)
    assert report.metrics["shortest_word_s"] == pytest.approx(0.03)


def test_qa_fails_missing_font_and_too_wide_lines(tmp_path: Path) -> None:
    words = even_words(["Supercalifragilisticexpialidocious-extraordinaire"])
    report = check_captions(words, 0.3, font_file=tmp_path / "missing.ttf")
    assert not report.passed
    assert any("font file not found" in r for r in report.reasons)
    assert any("safe zone" in r for r in report.reasons)


def test_qa_accepts_a_duration_instead_of_spans() -> None:
    words = even_words(words_of("a steady stream of words"), step=0.4)
    assert check_captions(words, 2.0, font_file=FONT).passed


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(CaptionSettings())


def test_caption_service_end_to_end(tmp_path: Path, transcriber: Transcriber) -> None:
    store = ArtifactStore(tmp_path / "store")
    with store.staging(".wav") as wav:
        PiperEngine().synthesize(SCRIPT, wav)
        audio = store.put(wav, kind="voice")
    media = MediaSettings()
    service = CaptionService(store, transcriber, CaptionSettings(), media)
    req = CaptionRequest(project_id="p", run_id="r1", audio=audio, script_text=SCRIPT)

    result = service.captions(req)

    assert result.tier.startswith("faster-whisper:tiny.en@")
    assert result.qa.passed, (result.qa.reasons, result.qa.metrics)
    assert result.word_count == len(SCRIPT.split())
    assert result.ass.kind == "captions" and result.ass.path.endswith(".ass")
    ass = Path(result.ass.path).read_text(encoding="utf-8")
    assert "PlayResX: 1080" in ass and ass.count("Dialogue:") == result.word_count
    assert "Kubernetes" in ass
    words = [Word.model_validate(w) for w in store.read_json(result.words)]
    assert result.words.kind == "words"
    assert [w.text for w in words] == SCRIPT.split()
    assert_well_timed(words)
    assert caption_font_file(media) == FONT and FONT.is_file()

    again = service.captions(req)
    assert again.notes == ["reused from store"]
    assert (again.ass, again.words, again.qa) == (result.ass, result.words, result.qa)
