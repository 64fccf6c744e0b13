"""Which pipeline steps run on the GPU pool, decided from configuration when a run starts.

The workflow cannot look at hardware (it must replay the same everywhere), so the starter decides from
the same config files every process reads and puts the answer in the run's input. A step goes to
`sma-gpu` when one of its configured tiers needs CUDA; on a worker without a GPU that tier is still
skipped with its reason and the chain goes on. Voiceover and captions always run there (their step specs).
"""

from __future__ import annotations

from sma.settings import Settings


def _named(chain: list[str], name: str) -> bool:
    return any(item.strip().lower() == name for item in chain)


def gpu_steps(settings: Settings) -> list[str]:
    """Steps whose chain holds a configured CUDA tier: MusicGen (a local checkpoint) for music, local
    diffusion (ComfyUI, which lives next to the GPU worker) for images."""
    steps: list[str] = []
    if _named(settings.music.chain, "musicgen") and settings.music.musicgen.model_dir:
        steps.append("music")
    visuals = settings.media.visuals
    if _named(list(visuals.image_chain), "comfyui") and visuals.comfyui_url:
        steps.append("images")
    return steps
