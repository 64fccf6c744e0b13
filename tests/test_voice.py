"""Voiceover: real Piper, real faster-whisper reverse transcription, the engine chain and QA_TTS."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from sma.models.pipeline import VoiceRequest
from sma.services.artifacts import ArtifactStore
from sma.services.qa.audio import check_voice, normalize_words, wav_duration, word_error_rate
from sma.services.speech.whisper import Transcriber
from sma.services.voice.chain import UnavailableEngine, build_engines
from sma.services.voice.engines.piper import PiperEngine
from sma.services.voice.service import VoiceChainError, VoiceService
from sma.settings import CaptionSettings, TTSSettings

# Mid-band speaking rate for Piper Joe (~155 wpm); strings of monosyllables run near the 240 wpm limit.
SENTENCE = "Readable code saves everyone time, because clear names explain what a function actually does."
RATE = 22050


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(CaptionSettings())


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def request(text: str = SENTENCE) -> VoiceRequest:
    return VoiceRequest(project_id="p", run_id="r1", text=text)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    ints = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(ints.tobytes())
    return path


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise in syllable-sized bursts: voiced energy without clipping, for gate tests without a model."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.3 * envelope * rng.standard_normal(t.size)).clip(-0.9, 0.9)


class Broken:
    """An engine that is available but raises, like a remote API timing out."""

    name = "broken"

    def unavailable_reason(self) -> str | None:
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        raise RuntimeError("upstream timed out")


class Mute:
    """An engine that returns silence: it must be caught by QA_TTS, not shipped."""

    name = "mute"

    def unavailable_reason(self) -> str | None:
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        write_wav(out_wav, np.zeros(RATE * 2))


class Counting(PiperEngine):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def synthesize(self, text: str, out_wav: Path) -> None:
        self.calls += 1
        super().synthesize(text, out_wav)


# ---------------------------------------------------------------- Piper and the chain


def test_piper_voice_passes_qa_and_reverse_transcription(store: ArtifactStore, transcriber: Transcriber) -> None:
    tts = TTSSettings()
    result = VoiceService(store, build_engines(tts), tts, transcriber=transcriber).speak(request())

    wav = Path(result.audio.path)
    assert wav.is_file() and wav.suffix == ".wav"
    assert result.audio.kind == "voice"
    assert result.tier == "piper"
    # The default chain: every better engine is unconfigured offline, so each is skipped with a reason.
    assert [(a.engine, a.outcome) for a in result.attempts][-1] == ("piper", "used")
    assert {a.outcome for a in result.attempts[:-1]} == {"skipped"}
    # 14 words: anything from 2 to 8 seconds is a plausible reading.
    assert 2.0 < result.duration_s < 8.0
    assert result.duration_s == pytest.approx(wav_duration(wav), abs=0.01)
    assert result.qa.gate == "QA_TTS" and result.qa.passed, result.qa.reasons
    assert 90 <= result.qa.metrics["wpm"] <= 240
    assert result.qa.metrics["clipped_fraction"] == 0.0
    # Reverse transcription by the caption Transcriber (faster-whisper tiny.en) hears the sentence back.
    assert result.qa.metrics["wer"] <= 0.3


def test_chain_skips_an_engine_this_build_lacks(store: ArtifactStore) -> None:
    tts = TTSSettings(chain=["tortoise", "piper"])
    engines = build_engines(tts)
    assert [e.name for e in engines] == ["tortoise", "piper"]
    assert engines[0].unavailable_reason() == "engine 'tortoise' is not available in this build"
    assert engines[1].unavailable_reason() is None

    result = VoiceService(store, engines, tts).speak(request("Short and sweet."))
    assert result.tier == "piper"
    assert result.attempts[0].engine == "tortoise"
    assert result.attempts[0].outcome == "skipped"
    assert "not available in this build" in result.attempts[0].reason


def test_build_engines_appends_piper_as_the_floor() -> None:
    names = [e.name for e in build_engines(TTSSettings(chain=["ElevenLabs", "edge", "edge"]))]
    assert names == ["elevenlabs", "edge", "piper"]
    assert isinstance(build_engines(TTSSettings(chain=[]))[0], PiperEngine)


def test_failing_and_mute_engines_hand_over_to_piper(store: ArtifactStore) -> None:
    tts = TTSSettings()
    engines = [Broken(), Mute(), PiperEngine()]
    result = VoiceService(store, engines, tts).speak(request("Fallbacks keep the pipeline moving."))

    assert result.tier == "piper"
    outcomes = [(a.engine, a.outcome) for a in result.attempts]
    assert outcomes == [("broken", "failed"), ("mute", "qa_failed"), ("piper", "used")]
    assert "upstream timed out" in result.attempts[0].reason
    assert "no speech" in result.attempts[1].reason


def test_chain_error_lists_every_attempt(store: ArtifactStore) -> None:
    engines = [UnavailableEngine("elevenlabs", "no API key configured"), Broken(), Mute()]
    with pytest.raises(VoiceChainError) as caught:
        VoiceService(store, engines, TTSSettings()).speak(request())
    message = str(caught.value)
    assert "elevenlabs: skipped (no API key configured)" in message
    assert "broken: failed" in message and "mute: qa_failed" in message
    assert [a.outcome for a in caught.value.attempts] == ["skipped", "failed", "qa_failed"]
    assert store.count() == 0


def test_same_request_is_served_from_the_store(store: ArtifactStore) -> None:
    tts = TTSSettings(chain=["kokoro"])
    engine = Counting()
    engines = [*build_engines(tts)[:-1], engine]
    first = VoiceService(store, engines, tts).speak(request("Idempotent steps are cheap to retry."))
    again = VoiceService(ArtifactStore(store.root), engines, tts).speak(request("Idempotent steps are cheap to retry."))

    assert engine.calls == 1
    assert again.audio == first.audio
    assert again.tier == "piper" and again.attempts == first.attempts and again.qa == first.qa
    assert again.duration_s == first.duration_s
    assert again.notes == ["reused from store"]

    VoiceService(store, engines, tts).speak(request("A different sentence is new work."))
    assert engine.calls == 2


def test_empty_text_is_refused(store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="empty"):
        VoiceService(store, [PiperEngine()], TTSSettings()).speak(request("   "))


# ---------------------------------------------------------------- QA_TTS on synthetic audio


def test_qa_fails_pure_silence(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "silence.wav", np.zeros(RATE * 3))
    report = check_voice(wav, "this is a perfectly normal sentence to say")
    assert not report.passed
    assert any("no speech" in r for r in report.reasons)
    assert report.metrics["duration_s"] == pytest.approx(3.0)


def test_qa_fails_a_clipped_square_wave(tmp_path: Path) -> None:
    t = np.arange(RATE * 3) / RATE
    square = np.sign(np.sin(2 * np.pi * 220 * t))
    wav = write_wav(tmp_path / "square.wav", square * 1.5)
    report = check_voice(wav, "this is a perfectly normal sentence to say")
    assert not report.passed
    assert any("clipping" in r for r in report.reasons), report.reasons
    assert report.metrics["clipped_fraction"] > 0.5
    assert not any("rate" in r for r in report.reasons)


def test_qa_fails_long_silence_inside_speech(tmp_path: Path) -> None:
    audio = np.concatenate([speechlike(2.0), np.zeros(RATE * 2), speechlike(2.0, seed=1)])
    report = check_voice(write_wav(tmp_path / "gap.wav", audio), " ".join(["word"] * 12))
    assert not report.passed
    assert any("silence" in r for r in report.reasons)
    assert report.metrics["longest_silence_s"] == pytest.approx(2.0, abs=0.1)


def test_qa_rate_uses_trimmed_speech(tmp_path: Path) -> None:
    audio = np.concatenate([np.zeros(RATE), speechlike(4.0), np.zeros(RATE)])
    wav = write_wav(tmp_path / "padded.wav", audio)
    ok = check_voice(wav, " ".join(["word"] * 10))
    assert ok.passed, ok.reasons
    assert ok.metrics["wpm"] == pytest.approx(150, rel=0.05)
    assert ok.metrics["leading_silence_s"] == pytest.approx(1.0, abs=0.05)
    too_fast = check_voice(wav, " ".join(["word"] * 40))
    assert any("speaking rate" in r for r in too_fast.reasons)


def test_qa_reverse_transcription_threshold(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "speech.wav", speechlike(4.0))
    text = "one two three four five six seven eight nine ten"
    assert check_voice(wav, text, transcript=text).metrics["wer"] == 0.0
    bad = check_voice(wav, text, transcript="one two three four five six seven", max_wer=0.15)
    assert not bad.passed
    assert bad.metrics["wer"] == pytest.approx(0.3)
    assert any("word error rate" in r for r in bad.reasons)


def test_wav_duration_reads_the_header(tmp_path: Path) -> None:
    assert wav_duration(write_wav(tmp_path / "d.wav", np.zeros(RATE // 2))) == pytest.approx(0.5)


# ---------------------------------------------------------------- word error rate


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("the cat sat down", "the cat sat down", 0.0),
        ("The cat, sat down!", "the cat sat down", 0.0),
        ("the cat sat down", "the dog sat down", 0.25),
        ("the cat sat down", "the cat sat", 0.25),
        ("the cat sat down", "the cat sat right down", 0.25),
        ("in 6 months", "in six months", 0.0),  # the normaliser writes numbers one way (test_text_normalize)
        ("don't stop", "dont stop", 0.0),
        ("", "", 0.0),
        ("", "noise", 1.0),
        ("hello", "", 1.0),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_normalize_words_splits_dashes_and_keeps_digits() -> None:
    assert normalize_words("Well\u2014known 3.5x, ROI!") == ["well", "known", "35x", "roi"]
