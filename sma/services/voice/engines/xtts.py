"""XTTS-v2 (`coqui-tts`, extra `gpu`): a project's own voice, cloned from its reference WAVs, on a GPU.

Everything heavy is imported lazily: a worker without the package or without CUDA reports why the engine is
skipped and moves on. The checkpoint is read from a local folder (never downloaded at run time), loaded
once per process, and the speaker latents of each reference set are computed once and reused.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from sma.services.voice.engines.audio import write_wav
from sma.services.voice.engines.base import EngineContext
from sma.services.voice.engines.config import XTTSSettings

OUTPUT_RATE = 24000
_MODELS: dict[str, tuple[Any, Any]] = {}
_LATENTS: dict[tuple[str, tuple[str, ...]], tuple[Any, Any]] = {}
_LOCK = threading.Lock()  # one model on the GPU, used by one thread at a time


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """CUDA devices torch sees; 0 without torch. Cached: importing torch costs a second or two."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def package_installed() -> bool:
    return importlib.util.find_spec("TTS") is not None


def reference_wavs(settings: XTTSSettings, project_id: str) -> list[Path]:
    """The project's own clips (<dir>/<project>/*.wav), else the shared ones (<dir>/*.wav)."""
    if not settings.references_dir:
        return []
    root = Path(settings.references_dir)
    own = sorted((root / project_id).glob("*.wav")) if project_id else []
    return (own or sorted(root.glob("*.wav")))[: max(1, settings.max_references)]


class XTTSEngine:
    name = "xtts"

    def __init__(self, settings: XTTSSettings, project_id: str = "default") -> None:
        self.settings = settings
        self.project_id = project_id

    @classmethod
    def from_context(cls, ctx: EngineContext) -> XTTSEngine:
        settings = ctx.settings.xtts
        if ctx.language.split("-")[0].lower() != "en":  # XTTS-v2 speaks the project's language
            settings = settings.model_copy(update={"language": ctx.language.split("-")[0].lower()})
        return cls(settings, ctx.project_id)

    def unavailable_reason(self) -> str | None:
        if not package_installed():
            return "coqui-tts is not installed (pip install 'sma[gpu]')"
        if cuda_device_count() == 0:
            return "no CUDA device: XTTS-v2 runs only on a GPU worker"
        if not self.settings.model_dir:
            return "tts.xtts.model_dir is not set (a local XTTS-v2 checkpoint folder)"
        if not (Path(self.settings.model_dir) / "config.json").is_file():
            return f"no XTTS-v2 checkpoint in {self.settings.model_dir} (config.json missing)"
        if not reference_wavs(self.settings, self.project_id):
            where = self.settings.references_dir or "tts.xtts.references_dir (not set)"
            return f"no reference WAVs for project {self.project_id!r} in {where}"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        refs = tuple(str(p) for p in reference_wavs(self.settings, self.project_id))
        with _LOCK:
            model, _config = _load(str(self.settings.model_dir))
            latent, embedding = _latents(model, str(self.settings.model_dir), refs)
            out = model.inference(text, self.settings.language, latent, embedding, enable_text_splitting=True)
        wav = out["wav"]
        samples = wav.detach().cpu().numpy() if hasattr(wav, "detach") else wav
        write_wav(out_wav, samples, OUTPUT_RATE)


def _load(model_dir: str) -> tuple[Any, Any]:
    """The documented manual path: XttsConfig + Xtts.load_checkpoint from a local folder, on CUDA."""
    cached = _MODELS.get(model_dir)
    if cached is None:
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        config = XttsConfig()
        config.load_json(str(Path(model_dir) / "config.json"))
        model = Xtts.init_from_config(config)
        model.load_checkpoint(config, checkpoint_dir=model_dir, use_deepspeed=False)
        model.cuda()
        cached = _MODELS[model_dir] = (model, config)
    return cached


def _latents(model: Any, model_dir: str, refs: tuple[str, ...]) -> tuple[Any, Any]:
    key = (model_dir, refs)
    if key not in _LATENTS:
        _LATENTS[key] = model.get_conditioning_latents(audio_path=list(refs))
    return _LATENTS[key]
