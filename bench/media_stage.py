"""Time the whole media stage for a ~60 s script on this machine, against the 120 s target.

    python bench/media_stage.py [--words 165] [--out DIR] [--qa] [--platforms tiktok,youtube]

Runs the real services in pipeline order on a fresh artifact store (nothing cached): voice (Piper, with
QA_TTS reverse transcription) -> captions (Whisper word timestamps, alignment, ASS) -> music (procedural)
-> background (procedural; Pexels only when a key is configured) -> images (2 code cards and a diagram,
Mermaid when `mmdc` is installed) -> render (one ffmpeg graph). Model loading is timed apart: a worker
loads its models once at start-up (`warm_gpu_models`), not per video.

Two totals are printed: the sum of the steps (one after another, the worst case) and the pipeline's
critical path (the background starts with the voice; music, images and the background run side by side
after the captions; on 2 cores those overlaps save little, so the sum is the honest number here).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sma.models.pipeline import (
    BackgroundRequest,
    Beat,
    CaptionRequest,
    ImagesRequest,
    MusicRequest,
    RenderRequest,
    Script,
    Visual,
    VoiceRequest,
)
from sma.services.artifacts import ArtifactStore
from sma.settings import Settings, load_settings

T = TypeVar("T")
Row = tuple[str, float, float, str]
TARGET_S = 120.0

SCRIPT = Script(
    title="Why caching makes renders cheap",
    hook="What if your second render took no time at all?",
    beats=[
        Beat(narration="Every step in a media pipeline turns inputs into a file. If you hash the inputs, the same "
                       "inputs always point to the same file, so a retry can simply look it up instead of doing "
                       "the work again.",
             visual=Visual(kind="code", language="python",
                           code="key = sha256(json.dumps(inputs, sort_keys=True))\nref = store.lookup(key)\n"
                                "if ref is None:\n    ref = store.put(render(inputs), key=key)\n")),
        Beat(narration="The trick is to include everything that changes the output in that key. The encoder, the "
                       "preset and the quality setting belong there, otherwise a new setting quietly hands you "
                       "the old video.",
             visual=Visual(kind="diagram", diagram="graph TD\n  A[Inputs + settings] --> B[Hash]\n"
                                                   "  B --> C{In the store?}\n  C -->|yes| D[Reuse the file]\n"
                                                   "  C -->|no| E[Render once]\n  E --> F[Store by hash]")),
        Beat(narration="Write the file to a scratch path first and move it into place only when it is complete. "
                       "A crash in the middle then leaves nothing behind that a retry could mistake for a "
                       "finished result.",
             visual=Visual(kind="code", language="python",
                           code="with store.staging('.mp4') as tmp:\n    ffmpeg.run(args + [tmp])\n"
                                "    ref = store.put(tmp, key=key)  # atomic rename\n")),
        Beat(narration="Retries become boring in the best way. A worker dies in the middle of a render, another "
                       "one picks the task up, asks the store for the finished file, finds nothing, and renders. "
                       "A worker that dies after the move finds the file and returns in a blink. Either way the "
                       "person waiting for the video never notices that anything went wrong.",
             visual=Visual(kind="image", image_prompt="a calm robot watching a progress bar")),
        Beat(narration="With these two habits a pipeline can stop at any moment and pick up exactly where it "
                       "left off. Nothing is done twice, and nothing is lost when a machine restarts."),
    ],
    cta="Follow for more small ideas that make big systems calm.",
)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg): steadier than wall time on a shared box."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(rows: list[Row], name: str, work: Callable[[], T], detail: Callable[[T], str]) -> T:
    started, cpu = time.perf_counter(), _cpu()
    result = work()
    seconds, cpu_s = time.perf_counter() - started, _cpu() - cpu
    rows.append((name, seconds, cpu_s, detail(result)))
    print(f"  {name:<12} {seconds:7.2f} s wall {cpu_s:7.2f} s cpu  {detail(result)}", file=sys.stderr, flush=True)
    return result


def build(settings: Settings, store: ArtifactStore) -> dict[str, Any]:
    """The services, wired like the workers wire them (one shared transcriber for QA_TTS and captions)."""
    from sma.services.captions.service import CaptionService
    from sma.services.media.background import BackgroundService
    from sma.services.media.ffmpeg import FFmpeg
    from sma.services.media.imagegen import build_chain
    from sma.services.media.images import ImageService
    from sma.services.media.pexels import PexelsClient
    from sma.services.media.render import RenderService
    from sma.services.music.service import MusicService
    from sma.services.speech.whisper import CachedTranscriber, Transcriber
    from sma.services.voice.chain import build_engines
    from sma.services.voice.service import VoiceService

    media = settings.media
    ffmpeg = FFmpeg(media.ffmpeg, threads=media.threads)
    transcriber = CachedTranscriber(Transcriber(settings.captions), store)
    pexels_key = settings.secrets.pexels_api_key
    openai_key = settings.secrets.openai_api_key
    stock = PexelsClient(media.visuals, pexels_key.get_secret_value()) if pexels_key else None
    return {
        "ffmpeg": ffmpeg,
        "transcriber": transcriber,
        "voice": VoiceService(store, build_engines(settings.tts), settings.tts, transcriber=transcriber),
        "captions": CaptionService(store, transcriber, settings.captions, media),
        "music": MusicService(store, ffmpeg),
        "background": BackgroundService(store, ffmpeg, media, stock=stock),
        "images": ImageService(store, media, generators=build_chain(
            media.visuals, openai_key.get_secret_value() if openai_key else None)),
        "render": RenderService(store, ffmpeg, media),
    }


def warm_up(settings: Settings) -> float:
    """Load the voice and Whisper models once, exactly as a GPU-queue worker does at start-up."""
    from sma.wiring import warm_gpu_models

    started = time.perf_counter()
    warm_gpu_models(settings)
    return time.perf_counter() - started


def run(settings: Settings, out: Path, platforms: list[str], qa: bool) -> list[Row]:
    store = ArtifactStore(out / "store")
    s = build(settings, store)
    run_id = f"bench-{time.time_ns()}"
    project = "bench"
    rows: list[Row] = []
    text = SCRIPT.narration()
    print(f"script: {len(text.split())} words", file=sys.stderr)
    voice = timed(rows, "voice", lambda: s["voice"].speak(VoiceRequest(project_id=project, run_id=run_id, text=text)),
                  lambda r: f"{r.tier}, {r.duration_s:.1f} s of speech, QA_TTS passed={r.qa.passed}")
    captions = timed(rows, "captions", lambda: s["captions"].captions(
        CaptionRequest(project_id=project, run_id=run_id, audio=voice.audio, script_text=text)),
        lambda r: f"{r.word_count} words, QA_CAPTIONS passed={r.qa.passed}")
    music = timed(rows, "music", lambda: s["music"].make(
        MusicRequest(project_id=project, run_id=run_id, duration_s=voice.duration_s, mood="calm")),
        lambda r: r.tier)
    background = timed(rows, "background", lambda: s["background"].make(
        BackgroundRequest(project_id=project, run_id=run_id, duration_s=voice.duration_s, seed=run_id,
                          query=SCRIPT.title)),
        lambda r: r.tier)
    images = timed(rows, "images", lambda: s["images"].make(
        ImagesRequest(project_id=project, run_id=run_id, beats=SCRIPT.beats, words=captions.words,
                      duration_s=voice.duration_s, platforms=platforms, background=background.video)),
        lambda r: f"{r.tier}, {len(r.overlays)} overlays" + (f"; {'; '.join(r.notes)}" if r.notes else ""))
    render = timed(rows, "render", lambda: s["render"].render(
        RenderRequest(project_id=project, run_id=run_id, voice=voice.audio, duration_s=voice.duration_s,
                      captions=captions.ass, background=background.video, music=music.audio,
                      overlays=images.overlays, platforms=platforms)),
        lambda r: f"{r.encoder}, {r.duration_s:.1f} s, {r.video.size / 1e6:.1f} MB -> {r.video.path}")
    if qa:
        from sma.services.qa.video import check_video

        timed(rows, "qa (extra)", lambda: check_video(s["ffmpeg"], Path(render.video.path), render.duration_s,
                                                      target_lufs=settings.media.target_lufs),
              lambda reports: ", ".join(f"{r.gate}={'pass' if r.passed else 'FAIL ' + '; '.join(r.reasons)}"
                                        for r in reports))
    return rows


def table(rows: list[Row], warm_s: float) -> str:
    by = {n: (sec, cpu) for n, sec, cpu, _ in rows if n != "qa (extra)"}
    total, total_cpu = sum(v[0] for v in by.values()), sum(v[1] for v in by.values())
    wall = {n: v[0] for n, v in by.items()}
    verdict = "met" if total <= TARGET_S else "MISSED"
    critical = (max(wall["voice"] + wall["captions"], wall["background"])
                + max(wall["music"], wall["images"]) + wall["render"])  # fmt: skip
    lines = [
        f"media stage on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "",
        "| step | wall s | cpu s | detail |",
        "|---|---:|---:|---|",
        f"| model warm-up (once per worker) | {warm_s:.2f} | | Piper voice + Whisper model |",
        *(f"| {n} | {sec:.2f} | {cpu:.2f} | {d} |" for n, sec, cpu, d in rows),
        "",
        "| total | wall s | cpu s | target |",
        "|---|---:|---:|---|",
        f"| sum of steps | {total:.2f} | {total_cpu:.2f} | <= {TARGET_S:.0f} ({verdict}) |",
        f"| critical path (parallel steps overlapped) | {critical:.2f} | | |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="keep outputs here (default: a temp dir)")
    parser.add_argument("--config", default=None, help="config file (default: config/config.yaml if present)")
    parser.add_argument("--platforms", default="", help="comma-separated; empty = every known safe zone")
    parser.add_argument("--qa", action="store_true", help="also time the video gates (not part of the stage)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    platforms = [p for p in args.platforms.split(",") if p]
    warm_s = warm_up(settings)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        rows = run(settings, args.out, platforms, args.qa)
    else:
        with tempfile.TemporaryDirectory(prefix="sma-stage-") as tmp:
            rows = run(settings, Path(tmp), platforms, args.qa)
    print(table(rows, warm_s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
