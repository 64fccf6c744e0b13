"""The music chain: tier order, skip and failure reasons, exact length and fades, with real FFmpeg.

Freesound is reached with httpx against a local server speaking APIv2 (`/search/text/` + preview files),
ElevenLabs sound generation with the official SDK (`POST /v1/sound-generation`).
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from sma.models.pipeline import MusicRequest
from sma.services.artifacts import ArtifactStore
from sma.services.media.ffmpeg import FFmpeg
from sma.services.music.service import MusicService, fades, job_for
from sma.services.music.sources.config import FreesoundSettings, MusicGenSettings, SoundGenSettings
from sma.services.music.sources.musicgen import MusicGenSource, make_loopable
from sma.settings import MusicSettings, Secrets, Settings
from tests.test_tts_fakes import LocalAPI, Reply, Request, tone_mp3, tone_wav

FS_KEY = "fs-token-abc"
EL_KEY = "el-key-xyz"


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def request(duration: float, mood: str = "calm", run: str = "r1") -> MusicRequest:
    return MusicRequest(project_id="p", run_id=run, duration_s=duration, mood=mood)


def decoded(path: str) -> tuple[np.ndarray, int]:
    """Mono float samples as a player would hear them."""
    with av.open(path) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        frames = [f.to_ndarray().astype(np.float32) for f in container.decode(stream)]
    data = np.concatenate(frames, axis=1)
    return data.mean(axis=0), rate


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


def assert_exact_and_faded(ffmpeg: FFmpeg, path: str, duration: float) -> None:
    info = ffmpeg.probe(path)
    assert info.audio_codec == "aac" and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert info.duration_s == pytest.approx(duration, abs=0.005)
    samples, rate = decoded(path)
    edge, middle = int(0.03 * rate), samples[int(len(samples) * 0.4) : int(len(samples) * 0.6)]
    assert rms(middle) > 0.01
    # Faded in and out: the first and last 30 ms are far quieter than the body.
    assert rms(samples[:edge]) < rms(middle) / 8
    assert rms(samples[-edge - 1100 : -1100]) < rms(middle) / 4  # AAC pads up to a frame past the end


def outcomes(result: object) -> list[tuple[str, str]]:
    return [(a.engine, a.outcome) for a in result.attempts]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- defaults and the floor


def test_offline_defaults_fall_to_procedural_with_every_reason(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    settings = Settings()
    result = MusicService(store, ffmpeg, settings.music, settings.secrets).make(request(6.4))

    assert result.tier == "procedural"
    assert outcomes(result) == [
        ("musicgen", "skipped"),
        ("freesound", "skipped"),
        ("elevenlabs", "skipped"),
        ("loops", "skipped"),
        ("procedural", "used"),
    ]
    reasons = {a.engine: a.reason for a in result.attempts}
    assert "music.musicgen.model_dir is not set" in reasons["musicgen"]
    assert reasons["freesound"] == "no Freesound API key (secrets.freesound_api_key)"
    assert reasons["elevenlabs"] == "no ElevenLabs API key (secrets.elevenlabs_api_key)"
    assert reasons["loops"] == "music.loops_dir is not set"
    assert any(n.startswith("freesound: skipped") for n in result.notes)
    assert_exact_and_faded(ffmpeg, result.audio.path, 6.4)

    again = MusicService(store, ffmpeg, settings.music, settings.secrets).make(request(6.4))
    assert again.audio == result.audio and again.tier == "procedural" and again.notes[0] == "reused"


# ---------------------------------------------------------------- loops folder


def test_loops_folder_picks_by_mood_and_loops_to_the_exact_length(
    ffmpeg: FFmpeg, store: ArtifactStore, tmp_path: Path
) -> None:
    loops = tmp_path / "loops"
    (loops / "calm").mkdir(parents=True)
    tone_wav(loops / "calm" / "soft-pad.wav", 2.5, freq=196)
    tone_wav(loops / "upbeat_synth.wav", 3.0, freq=330)
    music = MusicSettings(chain=["loops"], loops_dir=str(loops))

    calm = MusicService(store, ffmpeg, music).make(request(9.4, mood="calm"))
    assert calm.tier == "loops" and outcomes(calm) == [("loops", "used")]
    assert any("calm/soft-pad.wav (mood match)" in n for n in calm.notes)
    assert_exact_and_faded(ffmpeg, calm.audio.path, 9.4)  # a 2.5 s loop played almost four times

    upbeat = MusicService(store, ffmpeg, music).make(request(1.7, mood="energetic"))
    assert any("upbeat_synth.wav" in n for n in upbeat.notes)
    assert ffmpeg.probe(upbeat.audio.path).duration_s == pytest.approx(1.7, abs=0.005)  # trimmed


def test_silent_or_broken_loops_hand_over_to_procedural(ffmpeg: FFmpeg, store: ArtifactStore, tmp_path: Path) -> None:
    loops = tmp_path / "loops"
    loops.mkdir()
    with wave.open(str(loops / "calm-silence.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\0\0" * 44100 * 3)
    music = MusicSettings(chain=["loops"], loops_dir=str(loops))
    result = MusicService(store, ffmpeg, music).make(request(4.0))
    assert outcomes(result) == [("loops", "failed"), ("procedural", "used")]
    assert "silent" in result.attempts[0].reason

    (loops / "calm-silence.wav").write_bytes(b"not audio at all")
    broken = MusicService(store, ffmpeg, music).make(request(4.0, run="r2"))
    assert outcomes(broken) == [("loops", "failed"), ("procedural", "used")]

    empty = tmp_path / "empty"
    empty.mkdir()
    skipped = MusicService(store, ffmpeg, MusicSettings(chain=["loops"], loops_dir=str(empty))).make(request(3.0))
    assert skipped.attempts[0].outcome == "skipped" and "no audio files" in skipped.attempts[0].reason


# ---------------------------------------------------------------- Freesound


def freesound_api(api: LocalAPI, results: int = 3) -> None:
    def search(req: Request, _: re.Match[str]) -> Reply:
        sounds = [
            {
                "id": 1000 + i,
                "name": f"Ambient pad {i}",
                "username": "composer",
                "license": "http://creativecommons.org/publicdomain/zero/1.0/",
                "duration": 40.0,
                "url": f"https://freesound.org/people/composer/sounds/{1000 + i}/",
                "previews": {
                    "preview-hq-mp3": f"{api.url}/data/previews/{1000 + i}-hq.mp3",
                    "preview-lq-mp3": f"{api.url}/data/previews/{1000 + i}-lq.mp3",
                    "preview-hq-ogg": f"{api.url}/data/previews/{1000 + i}-hq.ogg",
                    "preview-lq-ogg": f"{api.url}/data/previews/{1000 + i}-lq.ogg",
                },
            }
            for i in range(results)
        ]
        import json

        body = {"count": len(sounds), "next": None, "previous": None, "results": sounds}
        return 200, "application/json", json.dumps(body).encode()

    api.route("GET", "/apiv2/search/text/", search)
    api.route("GET", r"/data/previews/.+\.mp3", lambda req, m: (200, "audio/mpeg", tone_mp3(5.0)))


def test_freesound_search_and_preview(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    with LocalAPI().running() as api:
        freesound_api(api)
        music = MusicSettings(chain=["freesound"], freesound=FreesoundSettings(base_url=f"{api.url}/apiv2"))
        result = MusicService(store, ffmpeg, music, Secrets(freesound_api_key=FS_KEY)).make(request(12.0))

    assert result.tier == "freesound" and outcomes(result) == [("freesound", "used")]
    (search,) = api.calls("/apiv2/search/text/")
    assert search.headers["authorization"] == f"Token {FS_KEY}"
    assert search.query["query"] == "calm ambient music loop"
    assert search.query["filter"] == 'license:"Creative Commons 0" duration:[12 TO 120]'
    assert "previews" in search.query["fields"] and search.query["page_size"] == "15"
    (preview,) = api.calls(r"/data/previews/.+")
    assert preview.path.endswith("-hq.mp3")
    assert "authorization" not in preview.headers  # previews are public: the token stays with the API
    assert any("by composer" in n and "publicdomain/zero" in n for n in result.notes)
    assert_exact_and_faded(ffmpeg, result.audio.path, 12.0)  # a 5 s preview, looped


@pytest.mark.parametrize(("status", "results", "reason"), [(500, 3, "HTTP 500"), (200, 0, "no Freesound results")])
def test_freesound_trouble_falls_back_to_the_loops_folder(
    ffmpeg: FFmpeg, store: ArtifactStore, tmp_path: Path, status: int, results: int, reason: str
) -> None:
    tone_wav(tmp_path / "calm.wav", 3.0)
    with LocalAPI().running() as api:
        if status == 200:
            freesound_api(api, results=results)
        else:
            api.route("GET", "/apiv2/search/text/", lambda req, m: (status, "application/json", b'{"detail":"x"}'))
        music = MusicSettings(
            chain=["freesound", "loops"],
            loops_dir=str(tmp_path),
            freesound=FreesoundSettings(base_url=f"{api.url}/apiv2"),
        )
        result = MusicService(store, ffmpeg, music, Secrets(freesound_api_key=FS_KEY)).make(request(5.0))
    assert outcomes(result) == [("freesound", "failed"), ("loops", "used")]
    assert reason in result.attempts[0].reason and FS_KEY not in result.attempts[0].reason
    assert ffmpeg.probe(result.audio.path).duration_s == pytest.approx(5.0, abs=0.005)


# ---------------------------------------------------------------- ElevenLabs sound generation


def test_elevenlabs_sound_generation_is_looped_to_length(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    def generate(req: Request, _: re.Match[str]) -> Reply:
        if req.headers.get("xi-api-key") != EL_KEY:
            return 401, "application/json", b'{"detail":{"status":"invalid_api_key"}}'
        return 200, "audio/mpeg", tone_mp3(5.0)

    with LocalAPI().running() as api:
        api.route("POST", "/v1/sound-generation", generate)
        music = MusicSettings(chain=["elevenlabs"], elevenlabs=SoundGenSettings(base_url=api.url, max_s=5))
        result = MusicService(store, ffmpeg, music, Secrets(elevenlabs_api_key=EL_KEY)).make(
            request(13.3, mood="dramatic")
        )

    assert result.tier == "elevenlabs"
    (call,) = api.calls("/v1/sound-generation")
    body = call.json()
    assert body["text"].startswith("dramatic ambient")
    assert body["duration_seconds"] == 5 and body["loop"] is True
    assert body["model_id"] == "eleven_text_to_sound_v2"
    assert call.query == {"output_format": "mp3_44100_128"}
    assert_exact_and_faded(ffmpeg, result.audio.path, 13.3)


def test_elevenlabs_refusal_hands_over(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    with LocalAPI().running() as api:
        api.route("POST", "/v1/sound-generation", lambda req, m: (401, "application/json", b'{"detail":"bad key"}'))
        music = MusicSettings(chain=["elevenlabs"], elevenlabs=SoundGenSettings(base_url=api.url))
        result = MusicService(store, ffmpeg, music, Secrets(elevenlabs_api_key=EL_KEY)).make(request(3.0))
    assert outcomes(result) == [("elevenlabs", "failed"), ("procedural", "used")]
    assert "HTTP 401" in result.attempts[0].reason and EL_KEY not in result.attempts[0].reason


# ---------------------------------------------------------------- MusicGen and helpers


def test_musicgen_says_why_it_cannot_run(tmp_path: Path) -> None:
    assert "model_dir is not set" in (MusicGenSource(MusicGenSettings()).unavailable_reason() or "")
    missing = MusicGenSource(MusicGenSettings(model_dir=str(tmp_path))).unavailable_reason()
    assert missing == f"no MusicGen checkpoint in {tmp_path} (config.json missing)"


def test_make_loopable_blends_the_seam() -> None:
    rate = 1000
    ramp = np.linspace(-1, 1, 4 * rate, dtype=np.float32)
    looped = make_loopable(ramp, rate, seam_s=0.5)
    assert len(looped) == len(ramp) - 500
    # The loop point: the last sample of the clip flows into the blended first sample.
    assert abs(float(looped[0]) - float(ramp[-500])) < 0.01
    assert abs(float(looped[-1]) - float(ramp[-501])) < 1e-6


def test_fades_fit_short_clips_and_jobs_are_stable() -> None:
    assert fades(40.0) == (1.5, 2.0)
    assert fades(2.0) == (0.5, 0.5)
    first, again = job_for(request(5, mood="question")), job_for(request(5, mood="question"))
    assert first == again and first.mood == "mysterious" and first.pick == again.pick
    assert job_for(request(5, mood="calm")).mood == "calm"


def test_non_positive_duration_is_refused(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="positive"):
        MusicService(store, ffmpeg).make(request(0.0))
