"""The TTS chain with its real engines: real SDK clients against local servers that speak the providers' APIs.

Kokoro is reached with the `openai` SDK (`POST /v1/audio/speech`), ElevenLabs with the `elevenlabs` SDK
(`POST /v1/text-to-speech/{voice_id}`), edge-tts through a network that never answers. QA_TTS runs with
the real faster-whisper reverse transcription wherever a test is about what was said.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from sma.models.pipeline import CaptionRequest, VoiceRequest
from sma.services.artifacts import ArtifactStore
from sma.services.captions.service import CaptionService
from sma.services.qa.audio import wav_duration
from sma.services.speech.whisper import CachedTranscriber, Transcriber
from sma.services.voice.chain import ProjectChains, build_engines, chain_names
from sma.services.voice.engines.config import EdgeSettings, ElevenLabsVoiceSettings, KokoroSettings, XTTSSettings
from sma.services.voice.engines.edge import EdgeEngine
from sma.services.voice.engines.xtts import XTTSEngine, package_installed, reference_wavs
from sma.services.voice.service import VoiceService
from sma.settings import CaptionSettings, MediaSettings, Secrets, Settings, TTSSettings
from tests.test_tts_fakes import (
    OTHER_WORDS,
    SCRIPT,
    LocalAPI,
    Reply,
    Request,
    blackhole,
    closed_port,
    pcm_frames,
    piper_wav,
    wav_at,
)

KEY = "el-test-key-123"


@pytest.fixture(scope="module")
def whisper() -> Transcriber:
    return Transcriber(CaptionSettings())


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def speaks(text: str) -> object:
    """An OpenAI-compatible speech handler (Kokoro-FastAPI, Speaches) whose voice says `text`."""

    def handler(req: Request, _: re.Match[str]) -> Reply:
        body = req.json()
        assert body["response_format"] == "wav"
        return 200, "audio/wav", piper_wav(text)

    return handler


def eleven_speaks(text: str) -> object:
    """ElevenLabs TTS: xi-api-key auth, output_format in the query, raw PCM for pcm_* formats."""

    def handler(req: Request, match: re.Match[str]) -> Reply:
        if req.headers.get("xi-api-key") != KEY:
            return 401, "application/json", b'{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}'
        rate = int(req.query["output_format"].removeprefix("pcm_"))
        return 200, "audio/pcm", pcm_frames(wav_at(piper_wav(text), rate))

    return handler


def fails(status: int) -> object:
    def handler(req: Request, _: re.Match[str]) -> Reply:
        return status, "application/json", b'{"detail":{"status":"internal_error","message":"upstream broke"}}'

    return handler


def settings_for(chain: list[str], **sections: object) -> TTSSettings:
    return TTSSettings(chain=chain, **sections)


def outcomes(result_or_attempts: object) -> list[tuple[str, str]]:
    attempts = getattr(result_or_attempts, "attempts", result_or_attempts)
    return [(a.engine, a.outcome) for a in attempts]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the default chain, offline


def test_default_chain_skips_every_unconfigured_engine_with_its_reason(store: ArtifactStore, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")  # never the working folder's ./data
    assert chain_names(settings.tts) == ["xtts", "kokoro", "elevenlabs", "edge", "piper"]
    result = VoiceService.from_settings(settings, store).speak(VoiceRequest(project_id="p", run_id="r", text=SCRIPT))

    assert result.tier == "piper"
    assert outcomes(result) == [
        ("xtts", "skipped"),
        ("kokoro", "skipped"),
        ("elevenlabs", "skipped"),
        ("edge", "skipped"),
        ("piper", "used"),
    ]
    reasons = {a.engine: a.reason for a in result.attempts}
    if not package_installed():
        assert reasons["xtts"] == "coqui-tts is not installed (pip install 'sma[gpu]')"
    assert "tts.kokoro.base_url is not set" in reasons["kokoro"]
    assert reasons["elevenlabs"] == "no ElevenLabs API key (secrets.elevenlabs_api_key)"
    assert "needs the internet" in reasons["edge"]


# ---------------------------------------------------------------- Kokoro and ElevenLabs over the wire


def test_kokoro_through_an_openai_compatible_server(store: ArtifactStore, whisper: Transcriber) -> None:
    with LocalAPI().running() as api:
        api.route("POST", "/v1/audio/speech", speaks(SCRIPT))
        tts = settings_for(["kokoro"], kokoro=KokoroSettings(base_url=f"{api.url}/v1", voice="af_bella"))
        result = VoiceService(store, build_engines(tts), tts, whisper).speak(
            VoiceRequest(project_id="p", run_id="r", text=SCRIPT)
        )

    assert result.tier == "kokoro" and outcomes(result) == [("kokoro", "used")]
    assert result.qa.passed and result.qa.metrics["wer"] <= 0.25, result.qa
    (call,) = api.calls("/v1/audio/speech")
    assert call.json() == {
        "model": "kokoro",
        "voice": "af_bella",
        "input": SCRIPT,
        "response_format": "wav",
        "speed": 1.0,
    }
    # A placeholder key, never the real OpenAI one, goes to a self-hosted server.
    assert call.headers["authorization"] == "Bearer sk-local-no-key"
    assert result.duration_s == pytest.approx(wav_duration(result.audio.path), abs=0.01)


def test_elevenlabs_sdk_gets_pcm_and_the_take_is_wrapped_as_wav(store: ArtifactStore) -> None:
    with LocalAPI().running() as api:
        api.route("POST", r"/v1/text-to-speech/(?P<voice>[^/]+)", eleven_speaks(SCRIPT))
        tts = settings_for(["elevenlabs"], elevenlabs=ElevenLabsVoiceSettings(base_url=api.url, voice_id="voice42"))
        engines = build_engines(tts, Secrets(elevenlabs_api_key=KEY))
        result = VoiceService(store, engines, tts).speak(VoiceRequest(project_id="p", run_id="r", text=SCRIPT))

    assert result.tier == "elevenlabs" and result.qa.passed, result.qa.reasons
    (call,) = api.calls("/v1/text-to-speech/voice42")
    assert call.query == {"output_format": "pcm_24000"}
    assert call.headers["xi-api-key"] == KEY
    assert call.json()["text"] == SCRIPT and call.json()["model_id"] == "eleven_multilingual_v2"
    import wave

    with wave.open(result.audio.path, "rb") as wav:
        assert wav.getframerate() == 24000 and wav.getsampwidth() == 2 and wav.getnchannels() == 1
    # Same length as the take the server resampled: nothing lost or padded in the wrapping.
    assert result.duration_s == pytest.approx(len(piper_wav(SCRIPT)) / 2 / 22050, abs=0.05)


def test_a_500_hands_over_to_the_next_engine_without_sdk_retries(store: ArtifactStore) -> None:
    with LocalAPI().running() as api:
        api.route("POST", r"/v1/text-to-speech/.+", fails(500))
        api.route("POST", "/v1/audio/speech", speaks(SCRIPT))
        tts = settings_for(
            ["elevenlabs", "kokoro"],
            elevenlabs=ElevenLabsVoiceSettings(base_url=api.url),
            kokoro=KokoroSettings(base_url=f"{api.url}/v1"),
        )
        started = time.perf_counter()
        result = VoiceService(store, build_engines(tts, Secrets(elevenlabs_api_key=KEY)), tts).speak(
            VoiceRequest(project_id="p", run_id="r", text=SCRIPT)
        )
        elapsed = time.perf_counter() - started

    assert result.tier == "kokoro"
    assert outcomes(result) == [
        ("elevenlabs", "failed"),
        ("kokoro", "used"),
    ]
    assert "HTTP 500" in result.attempts[0].reason and "upstream broke" in result.attempts[0].reason
    assert KEY not in result.attempts[0].reason
    assert len(api.calls(r"/v1/text-to-speech/.+")) == 1  # the chain, not the SDK, decides what comes next
    assert elapsed < 15


def test_a_voice_saying_other_words_fails_qa_tts_and_hands_over(store: ArtifactStore, whisper: Transcriber) -> None:
    with LocalAPI().running() as api:
        api.route("POST", "/v1/audio/speech", speaks(OTHER_WORDS))
        tts = settings_for(["kokoro", "piper"], kokoro=KokoroSettings(base_url=f"{api.url}/v1"))
        result = VoiceService(store, build_engines(tts), tts, whisper).speak(
            VoiceRequest(project_id="p", run_id="r", text=SCRIPT)
        )

    assert outcomes(result) == [("kokoro", "qa_failed"), ("piper", "used")]
    reason = result.attempts[0].reason
    assert "reverse transcription word error rate" in reason and "above 0.250" in reason
    wer = float(re.search(r"rate ([\d.]+)", reason).group(1))  # type: ignore[union-attr]
    assert wer > 0.6
    assert result.qa.passed and result.qa.metrics["wer"] <= 0.25


# ---------------------------------------------------------------- edge-tts offline


@pytest.mark.parametrize("network", ["blackhole", "refused"])
def test_edge_tts_offline_fails_fast_and_hands_over(store: ArtifactStore, network: str) -> None:
    with blackhole() as silent:
        proxy = silent if network == "blackhole" else closed_port()
        tts = settings_for(["edge"], edge=EdgeSettings(enabled=True, proxy=proxy, first_audio_s=1))
        started = time.perf_counter()
        with store.staging(".wav") as wav, pytest.raises(Exception) as caught:
            EdgeEngine(tts.edge).synthesize(SCRIPT, wav)
        elapsed = time.perf_counter() - started

    assert elapsed < 3.0, f"edge-tts took {elapsed:.1f} s to give up"
    message = str(caught.value)
    if network == "blackhole":
        assert "no audio from edge-tts within 1 s" in message
    else:
        assert "edge-tts unreachable" in message


def test_edge_failure_is_recorded_and_piper_speaks(store: ArtifactStore) -> None:
    tts = settings_for(["edge"], edge=EdgeSettings(enabled=True, proxy=closed_port(), first_audio_s=1))
    result = VoiceService(store, build_engines(tts), tts).speak(
        VoiceRequest(project_id="p", run_id="r", text="Offline runs still get a voice.")
    )
    assert outcomes(result) == [("edge", "failed"), ("piper", "used")]
    assert "EdgeOffline" in result.attempts[0].reason


# ---------------------------------------------------------------- XTTS and per-project chains


def test_xtts_says_why_it_cannot_run_here(tmp_path: Path) -> None:
    engine = XTTSEngine(XTTSSettings(model_dir=str(tmp_path)), "brand")
    reason = engine.unavailable_reason()
    assert reason is not None
    if not package_installed():
        assert reason == "coqui-tts is not installed (pip install 'sma[gpu]')"


def test_xtts_reference_wavs_are_per_project(tmp_path: Path) -> None:
    for name in ("brand/a.wav", "brand/b.wav", "shared.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"RIFF")
    settings = XTTSSettings(references_dir=str(tmp_path), max_references=5)
    assert [p.name for p in reference_wavs(settings, "brand")] == ["a.wav", "b.wav"]
    assert [p.name for p in reference_wavs(settings, "other")] == ["shared.wav"]
    assert reference_wavs(XTTSSettings(), "brand") == []


def test_each_project_may_have_its_own_chain() -> None:
    tts = TTSSettings(chain=["elevenlabs", "piper"], project_chains={"brand": ["Kokoro", "edge"]})
    assert chain_names(tts, "brand") == ["kokoro", "edge", "piper"]
    assert chain_names(tts, "other") == ["elevenlabs", "piper"]
    chains = ProjectChains(tts)
    assert [e.name for e in chains("brand")] == ["kokoro", "edge", "piper"]
    assert chains("brand") is chains("brand")  # built once per project
    service = VoiceService(ArtifactStore(Path("/tmp/unused-sma-store")), chains, tts)
    assert [e.name for e in service.engines_for("other")] == ["elevenlabs", "piper"]


def test_unknown_engine_name_is_reported_not_fatal() -> None:
    (unknown, piper) = build_engines(TTSSettings(chain=["bark"]))
    assert unknown.unavailable_reason() == "engine 'bark' is not available in this build"
    assert piper.name == "piper"


# ---------------------------------------------------------------- one transcription per take


class CountingTranscriber(Transcriber):
    def __init__(self) -> None:
        super().__init__(CaptionSettings())
        self.calls = 0

    def words(self, wav: Path, language: str = "en") -> list:
        self.calls += 1
        return super().words(wav, language)


def test_captions_reuse_the_words_heard_by_qa_tts(store: ArtifactStore) -> None:
    inner = CountingTranscriber()
    shared = CachedTranscriber(inner, store)
    tts = TTSSettings(chain=["piper"])
    voice = VoiceService(store, build_engines(tts), tts, shared).speak(
        VoiceRequest(project_id="p", run_id="r", text=SCRIPT)
    )
    assert voice.qa.passed and "wer" in voice.qa.metrics and inner.calls == 1

    captions = CaptionService(store, shared, CaptionSettings(), MediaSettings()).captions(
        CaptionRequest(project_id="p", run_id="r", audio=voice.audio, script_text=SCRIPT)
    )
    assert captions.qa.passed, captions.qa.reasons
    assert inner.calls == 1  # Whisper ran once for both steps

    # The words live in the store: another process (a restarted worker) reuses them too.
    again = CachedTranscriber(inner, ArtifactStore(store.root)).words(Path(voice.audio.path))
    assert inner.calls == 1 and " ".join(w.text for w in again)


class Says:
    """An engine whose (real Piper) voice says fixed words, whatever it is asked to say."""

    def __init__(self, name: str, words: str) -> None:
        self.name, self.words = name, words

    def unavailable_reason(self) -> str | None:
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        out_wav.write_bytes(piper_wav(self.words))


def test_when_no_take_passes_the_best_one_goes_to_review(store: ArtifactStore, whisper: Transcriber) -> None:
    half = "Readable code saves everyone time, because clear names help."
    engines = [Says("wrong", OTHER_WORDS), Says("partial", half)]
    result = VoiceService(store, engines, TTSSettings(), whisper).speak(
        VoiceRequest(project_id="p", run_id="r", text=SCRIPT)
    )
    assert outcomes(result) == [("wrong", "qa_failed"), ("partial", "qa_failed")]
    assert result.tier == "partial" and not result.qa.passed
    assert any("word error rate" in r for r in result.qa.reasons)
    assert result.notes == ["no engine passed QA_TTS; kept the best take (partial) for review"]
    assert Path(result.audio.path).is_file()
