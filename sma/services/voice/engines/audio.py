"""Turning what a TTS provider returns (WAV, MP3, raw PCM) into the plain 16-bit WAV the chain works on.

QA_TTS, the captions step and the renderer all read WAV; providers answer in whatever they like, and some
stream WAV with a placeholder length in the header. Decoding through PyAV (FFmpeg's libraries, already a
dependency) gives one clean file whatever came in.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av

PCM_FORMAT = re.compile(r"^pcm_(\d+)$")


class AudioDecodeError(ValueError):
    """The provider's bytes are not audio we can read."""


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Float samples in [-1, 1] (mono) as 16-bit PCM."""
    ints = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(ints.tobytes())
    return path


def pcm_to_wav(data: bytes, rate: int, out_wav: Path) -> Path:
    """Raw signed 16-bit little-endian mono (ElevenLabs `pcm_*`, OpenAI `pcm`) with a WAV header."""
    if len(data) < 2:
        raise AudioDecodeError("empty audio from the provider")
    with wave.open(str(out_wav), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data[: len(data) // 2 * 2])
    return out_wav


def decode_to_wav(source: bytes | Path, out_wav: Path, rate: int | None = None) -> Path:
    """Any container/codec FFmpeg reads (WAV, MP3, Opus, FLAC, the audio of an MP4) -> mono 16-bit WAV."""
    import av

    raw = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes) and not source:
        raise AudioDecodeError("empty audio from the provider")
    try:
        container = av.open(raw, "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioDecodeError(f"not readable audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream")
        stream = container.streams.audio[0]
        out_rate = rate or stream.codec_context.sample_rate or 24000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=out_rate)
        frames = 0
        with wave.open(str(out_wav), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(out_rate)
            try:
                for frame in container.decode(stream):
                    frames += _write(wav, resampler.resample(frame))
                frames += _write(wav, resampler.resample(None))
            except av.error.FFmpegError as exc:
                raise AudioDecodeError(f"audio stream is corrupt: {exc}") from exc
    if frames == 0:
        raise AudioDecodeError("the audio has no samples")
    return out_wav


def _write(wav: wave.Wave_write, frames: list[av.AudioFrame]) -> int:
    count = 0
    for frame in frames:
        data = frame.to_ndarray().astype("<i2").tobytes()
        wav.writeframes(data)
        count += frame.samples
    return count


def provider_audio_to_wav(data: bytes, output_format: str, out_wav: Path) -> Path:
    """Bytes in a provider's named format (`pcm_24000`, `mp3_44100_128`, `wav`...) -> WAV at `out_wav`."""
    match = PCM_FORMAT.match(output_format)
    if match:
        return pcm_to_wav(data, int(match.group(1)), out_wav)
    return decode_to_wav(data, out_wav)
