"""Config sections of the music tiers (`music.musicgen`, `music.freesound`, `music.elevenlabs`).

`{mood}` in a prompt or query is replaced by the run's mood word (calm, upbeat, dramatic, mysterious).
"""

from __future__ import annotations

from pydantic import Field

from sma.models.section import Section


class MusicGenSettings(Section):
    model_dir: str | None = Field(None, description="local facebook/musicgen-* folder (transformers); never downloaded")
    prompt: str = "{mood} instrumental background music for a short video, soft, no vocals"
    max_s: float = Field(30.0, description="generate at most this long and loop it (MusicGen's window is 30 s)")


class FreesoundSettings(Section):
    base_url: str = "https://freesound.org/apiv2"
    query: str = "{mood} ambient music loop"
    license_filter: str = Field('license:"Creative Commons 0"', description="CC0 needs no attribution on screen")
    page_size: int = 15
    timeout_s: float = 30.0


class SoundGenSettings(Section):
    base_url: str | None = Field(None, description="empty = https://api.elevenlabs.io (a proxy or test server)")
    prompt: str = "{mood} ambient instrumental background music loop, soft pads, no vocals"
    model_id: str = "eleven_text_to_sound_v2"
    max_s: float = Field(22.0, description="the API's longest sound; longer videos loop it")
    output_format: str = "mp3_44100_128"
    prompt_influence: float = 0.3
    timeout_s: float = 120.0
