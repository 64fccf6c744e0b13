"""ElevenLabs sound generation (`POST /v1/sound-generation`) with the official SDK, asked for a seamless loop.

The API makes at most ~22 s, so longer videos loop the result; `loop: true` asks the model for a clip
whose end runs into its start.
"""

from __future__ import annotations

import re
from pathlib import Path

from sma.services.music.sources.base import Fetched, MusicJob
from sma.services.music.sources.config import SoundGenSettings
from sma.services.voice.engines.audio import pcm_to_wav
from sma.services.voice.engines.elevenlabs import NO_RETRIES, collect, make_client

MIN_S = 0.5


def suffix_for(output_format: str) -> str:
    codec = output_format.split("_", 1)[0]
    return {"mp3": ".mp3", "opus": ".opus", "wav": ".wav"}.get(codec, ".bin")


class SoundGenSource:
    name = "elevenlabs"

    def __init__(self, settings: SoundGenSettings, api_key: str | None) -> None:
        self.settings = settings
        self._api_key = api_key

    def unavailable_reason(self) -> str | None:
        if not self._api_key:
            return "no ElevenLabs API key (secrets.elevenlabs_api_key)"
        return None

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        seconds = round(max(MIN_S, min(job.duration_s, self.settings.max_s)), 2)
        client = make_client(self._api_key or "", self.settings.base_url, self.settings.timeout_s)
        chunks = client.text_to_sound_effects.convert(
            text=job.prompt(self.settings.prompt),
            duration_seconds=seconds,
            loop=True,
            prompt_influence=self.settings.prompt_influence,
            model_id=self.settings.model_id,
            output_format=self.settings.output_format,
            request_options=NO_RETRIES,
        )
        data = collect(chunks, "sound generation")
        pcm = re.match(r"^pcm_(\d+)$", self.settings.output_format)
        if pcm:
            target = pcm_to_wav(data, int(pcm.group(1)), workdir / "elevenlabs.wav")
        else:
            target = workdir / f"elevenlabs{suffix_for(self.settings.output_format)}"
            target.write_bytes(data)
        return Fetched(path=target, notes=[f"elevenlabs sound generation, {seconds:g} s loop"])
