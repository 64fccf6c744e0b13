"""MusicGen (extra `gpu`) through `transformers`, from a local checkpoint folder, on CUDA only.

Generation is seeded by the run, capped at the model's 30 s window, and the clip's tail is cross-faded
into its head so that looping it for a longer video has no seam.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sma.services.music.sources.base import Fetched, MusicJob
from sma.services.music.sources.config import MusicGenSettings
from sma.services.voice.engines.audio import write_wav
from sma.services.voice.engines.xtts import cuda_device_count

_MODELS: dict[str, tuple[Any, Any]] = {}
_LOCK = threading.Lock()
SEAM_S = 1.0


def make_loopable(samples: np.ndarray, rate: int, seam_s: float = SEAM_S) -> np.ndarray:
    """Blend the last `seam_s` into the first and drop the tail: played in a loop, the end meets the start."""
    n = min(int(seam_s * rate), len(samples) // 4)
    if n <= 0:
        return samples
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = samples[:-n].astype(np.float32).copy()
    out[:n] = samples[:n] * ramp + samples[-n:] * (1.0 - ramp)
    return out


class MusicGenSource:
    name = "musicgen"

    def __init__(self, settings: MusicGenSettings) -> None:
        self.settings = settings

    def unavailable_reason(self) -> str | None:
        if not self.settings.model_dir:
            return "music.musicgen.model_dir is not set (a local facebook/musicgen-* checkpoint folder)"
        if not (Path(self.settings.model_dir) / "config.json").is_file():
            return f"no MusicGen checkpoint in {self.settings.model_dir} (config.json missing)"
        if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
            return "transformers/torch are not installed (pip install 'sma[gpu]')"
        if cuda_device_count() == 0:
            return "no CUDA device: MusicGen runs only on a GPU worker"
        return None

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        import torch

        seconds = min(job.duration_s, self.settings.max_s)
        with _LOCK:
            model, processor = _load(str(self.settings.model_dir))
            torch.manual_seed(job.pick)
            inputs = processor(text=[job.prompt(self.settings.prompt)], padding=True, return_tensors="pt").to("cuda")
            tokens = int(seconds * model.config.audio_encoder.frame_rate) + 1
            audio = model.generate(**inputs, do_sample=True, max_new_tokens=tokens)
        rate = int(model.config.audio_encoder.sampling_rate)
        samples = audio[0, 0].float().cpu().numpy()
        if seconds < job.duration_s:
            samples = make_loopable(samples, rate)
        target = write_wav(workdir / "musicgen.wav", samples / max(1e-6, float(np.abs(samples).max())) * 0.8, rate)
        return Fetched(path=target, notes=[f"musicgen {Path(str(self.settings.model_dir)).name}, {seconds:.0f} s"])


def _load(model_dir: str) -> tuple[Any, Any]:
    cached = _MODELS.get(model_dir)
    if cached is None:
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)  # type: ignore[no-untyped-call]  # unannotated upstream
        model = MusicgenForConditionalGeneration.from_pretrained(model_dir, local_files_only=True).to("cuda")  # type: ignore[arg-type]  # .to() typed through a wrapper
        cached = _MODELS[model_dir] = (model, processor)
    return cached
