"""Step 9: the final video, from one ffmpeg process running one filter graph.

Why one graph: every frame is decoded, composited and encoded exactly once, with no Python per frame and
no intermediate files, so the render costs little more than encoding the background alone (see
bench/render.py). Layout: background looped and scaled up, code cards in the upper safe zone, captions
burned in by libass with our own fonts, voice over ducked music normalised to the platform loudness.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sma
from sma.models.pipeline import Overlay, RenderRequest, RenderResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.settings import MediaSettings

FONTS_DIR = Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"
TAIL_S = 0.6
MUSIC_UNDER_VOICE_DB = 20.0  # music sits this far below the voice before ducking
FADE_S = 0.25  # overlay fade in/out
MUSIC_FADE_OUT_S = 1.5
LIMIT = 10 ** (-2.0 / 20)  # sample-peak ceiling; leaves room for inter-sample peaks under -1.5 dBTP
# The levelled voice keys the compressor: music drops ~8 dB while someone speaks, back within ~0.4 s.
DUCKING = "sidechaincompress=threshold=0.05:ratio=6:attack=20:release=400:knee=4"
PLAIN_BACKGROUND = "0x14161f"
VERSION = "1"

_NVENC_PRESETS = {
    "ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
    "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7",
}  # fmt: skip


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (LUFS) of the two audio inputs, measured before the render."""

    voice: float | None
    music: float | None


class RenderService:
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg, settings: MediaSettings) -> None:
        self.store = store
        self.ffmpeg = ffmpeg
        self.settings = settings

    def render(self, req: RenderRequest, on_progress: Callable[[float], None] | None = None) -> RenderResult:
        """Render once per request: a retry after a crash finds the finished video by its input key."""
        started = time.perf_counter()
        key = input_key("render", req, version=VERSION)
        ref = self.store.lookup(key)
        encoder = self.encoder()
        notes: list[str] = []
        if ref is None:
            duration = self.output_duration(req)
            with self.store.staging(".mp4") as path:
                encoder = self._render_with_fallback(req, path, duration, encoder, on_progress, notes)
                ref = self.store.put(path, kind="video", key=key)
        else:
            notes.append("reused")
        if on_progress is not None:
            on_progress(1.0)
        info = self.ffmpeg.probe(ref.path)
        return RenderResult(
            video=ref, duration_s=round(info.duration_s, 3), encoder=encoder, tier=encoder,
            seconds=round(time.perf_counter() - started, 3), notes=notes,
        )  # fmt: skip

    def output_duration(self, req: RenderRequest) -> float:
        """Voice length plus a short tail, so the last word is not cut by the end of the file."""
        voice = req.duration_s if req.duration_s > 0 else self.ffmpeg.probe(req.voice.path).duration_s
        return round(voice + TAIL_S, 3)

    def encoder(self) -> str:
        choice = self.settings.encoder
        if choice == "auto":
            return "h264_nvenc" if self.ffmpeg.has_encoder("h264_nvenc") else "libx264"
        return choice

    def _render_with_fallback(
        self, req: RenderRequest, path: Path, duration: float, encoder: str,
        on_progress: Callable[[float], None] | None, notes: list[str],
    ) -> str:  # fmt: skip
        """A GPU encoder that fails at run time (driver gone, sessions exhausted) falls back to x264."""
        try:
            self.ffmpeg.run(self.build_args(req, path, duration, encoder), duration, on_progress)
            return encoder
        except FFmpegError as exc:
            if encoder == "libx264":
                raise
            notes.append(f"{encoder} failed, re-rendered with libx264: {str(exc).splitlines()[0]}")
        self.ffmpeg.run(self.build_args(req, path, duration, "libx264"), duration, on_progress)
        return "libx264"

    # ------------------------------------------------------------ the command

    def build_args(self, req: RenderRequest, out: Path, duration: float, encoder: str) -> list[str]:
        """The full ffmpeg command line (after the global flags) for one render."""
        loud = self.measure(req)
        inputs, graph = self._inputs(req), Graph()
        video = self._video_chain(req, graph, duration)
        audio = self._audio_chain(req, graph, duration, loud)
        return [
            "-loglevel", "warning", *inputs,
            "-filter_complex", graph.text(), "-map", video, "-map", audio,
            *self._video_codec(encoder),
            "-c:a", "aac", "-b:a", self.settings.audio_bitrate, "-ar", "48000", "-ac", "2",
            "-t", f"{duration:.3f}", "-movflags", "+faststart",
            "-threads", str(self.settings.threads or self.ffmpeg.threads),
            str(out),
        ]  # fmt: skip

    def _inputs(self, req: RenderRequest) -> list[str]:
        s = self.settings
        if req.background is not None:
            args = ["-stream_loop", "-1", "-i", req.background.path]
        else:
            args = ["-f", "lavfi", "-i", f"color=c={PLAIN_BACKGROUND}:s={s.width}x{s.height}:r={s.fps}"]
        args += ["-i", req.voice.path]
        if req.music is not None:
            args += ["-i", req.music.path]
        for overlay in req.overlays:
            args += ["-framerate", str(s.fps), "-i", overlay.image.path]
        return args

    def _video_chain(self, req: RenderRequest, graph: Graph, duration: float) -> str:
        s = self.settings
        first_overlay = 3 if req.music is not None else 2
        label = graph.add(
            "[0:v]", f"scale={s.width}:{s.height}:flags=fast_bilinear,fps={s.fps},format=yuv420p,setsar=1"
            if req.background is not None else "format=yuv420p,setsar=1",
        )
        for i, overlay in enumerate(req.overlays):
            card = graph.add(f"[{first_overlay + i}:v]", _overlay_source(overlay, s.fps, duration))
            label = graph.add(
                label + card,
                f"overlay=x={overlay.x}:y={overlay.y}:eof_action=pass:format=yuv420"
                f":enable='between(t,{overlay.start_s:.3f},{overlay.end_s:.3f})'",
            )
        subtitles = f"ass=filename={escape_filter_path(req.captions.path)}" \
                    f":fontsdir={escape_filter_path(str(FONTS_DIR))}"
        return graph.add(label, subtitles)

    def _audio_chain(self, req: RenderRequest, graph: Graph, duration: float, loud: Loudness) -> str:
        """Voice over ducked music, levelled to the target loudness.

        With the inputs measured, levelling is a fixed gain plus a peak limiter: exact, free of the
        pumping of dynamic loudnorm, and ten times cheaper (loudnorm resamples to 192 kHz). Unmeasured
        inputs fall back to single-pass loudnorm.
        """
        target = self.settings.target_lufs
        fmt = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo"
        voice_gain = _voice_gain_db(loud, target, req.music is not None)
        level = f"loudnorm=I={target}:TP=-1.5:LRA=11" if voice_gain is None else \
            f"alimiter=limit={LIMIT:.4f}:level=false:latency=true"
        tail = f"{level},aresample=48000,atrim=duration={duration:.3f}"
        voice_chain = f"{fmt},volume={voice_gain or 0.0:.2f}dB,apad"
        if req.music is None:
            return graph.add("[1:a]", f"{voice_chain},{tail}")
        voice, sidechain = graph.split("[1:a]", voice_chain)
        music = graph.add(
            "[2:a]",
            f"{fmt},volume={_music_gain_db(loud, target):.2f}dB,apad,"
            f"afade=t=out:st={max(0.0, duration - MUSIC_FADE_OUT_S):.3f}:d={MUSIC_FADE_OUT_S}",
        )
        ducked = graph.add(music + sidechain, DUCKING)
        return graph.add(voice + ducked, f"amix=inputs=2:duration=first:normalize=0,{tail}")

    def _video_codec(self, encoder: str) -> list[str]:
        s = self.settings
        common = ["-pix_fmt", "yuv420p", "-r", str(s.fps)]
        if encoder == "h264_nvenc":
            preset = _NVENC_PRESETS.get(s.preset, "p4")
            return ["-c:v", "h264_nvenc", "-preset", preset, "-rc", "vbr", "-cq", str(s.crf), "-b:v", "0",
                    *common]
        return ["-c:v", "libx264", "-preset", s.preset, "-crf", str(s.crf), *common]

    # ------------------------------------------------------------ loudness

    def measure(self, req: RenderRequest) -> Loudness:
        """Integrated loudness of voice and music in one audio-only pass (a fraction of a second).

        Knowing both lets the graph level the voice exactly and place the music a fixed distance under
        it, whatever tier made either of them.
        """
        paths = [req.voice.path] + ([req.music.path] if req.music is not None else [])
        args: list[str] = []
        for path in paths:
            args += ["-i", path]
        graph = ";".join(f"[{i}:a]ebur128=framelog=quiet[a{i}]" for i in range(len(paths)))
        args += ["-filter_complex", graph]
        for i in range(len(paths)):
            args += ["-map", f"[a{i}]", "-f", "null", "-"]
        try:
            values = parse_integrated(self.ffmpeg.capture(args, timeout=120))
        except FFmpegError:
            return Loudness(None, None)
        if len(values) != len(paths):
            return Loudness(None, None)
        return Loudness(values[0], values[1] if len(values) > 1 else None)


class Graph:
    """Builds a filter_complex text with generated pad labels."""

    def __init__(self) -> None:
        self.chains: list[str] = []
        self.count = 0

    def _label(self) -> str:
        self.count += 1
        return f"[s{self.count}]"

    def add(self, inputs: str, filters: str) -> str:
        out = self._label()
        self.chains.append(f"{inputs}{filters}{out}")
        return out

    def split(self, inputs: str, filters: str) -> tuple[str, str]:
        a, b = self._label(), self._label()
        self.chains.append(f"{inputs}{filters},asplit=2{a}{b}")
        return a, b

    def text(self) -> str:
        return ";".join(self.chains)


def _overlay_source(overlay: Overlay, fps: int, duration: float) -> str:
    """A still card decoded once, repeated in memory for its window only, with alpha fades.

    `loop` repeats the decoded frame instead of re-reading the PNG every frame, and `trim` ends the
    stream when the window closes, so the overlay costs nothing outside its window.
    """
    start = max(0.0, min(overlay.start_s, duration))
    length = max(1.0 / fps, min(overlay.end_s, duration) - start)
    fade = min(FADE_S, length / 3)
    return (
        f"format=yuva420p,loop=loop=-1:size=1:start=0,trim=duration={length:.3f},"
        f"setpts=PTS-STARTPTS+{start:.3f}/TB,"
        f"fade=t=in:st={start:.3f}:d={fade:.3f}:alpha=1,"
        f"fade=t=out:st={start + length - fade:.3f}:d={fade:.3f}:alpha=1"
    )


def _measured(value: float | None) -> bool:
    return value is not None and value > -70.0


def _voice_gain_db(loud: Loudness, target: float, with_music: bool) -> float | None:
    """Gain that brings the mix to `target`; None when the voice could not be measured.

    Music MUSIC_UNDER_VOICE_DB below the voice adds 10*log10(1 + 10^(-x/10)) to the mix (0.04 dB at 20).
    """
    if not _measured(loud.voice):
        return None
    music = 10 * math.log10(1 + 10 ** (-MUSIC_UNDER_VOICE_DB / 10)) if with_music else 0.0
    return target - (loud.voice + music)  # type: ignore[operator]


def _music_gain_db(loud: Loudness, target: float) -> float:
    """Gain that puts the music MUSIC_UNDER_VOICE_DB under the levelled voice."""
    if not _measured(loud.music):
        return -MUSIC_UNDER_VOICE_DB  # unknown level: assume a full-scale mix like most music
    if not _measured(loud.voice):
        return (-23.0 - MUSIC_UNDER_VOICE_DB) - loud.music  # type: ignore[operator]  # loudnorm levels after
    return (target - MUSIC_UNDER_VOICE_DB) - loud.music  # type: ignore[operator]


_SUMMARY = re.compile(r"Parsed_ebur128_(\d+) @ [^\]]*\] Summary:")
_INTEGRATED = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf)\s*LUFS")


def parse_integrated(lines: list[str] | str) -> list[float]:
    """Integrated loudness from ebur128 summaries, ordered by filter instance (input order)."""
    found: dict[int, float] = {}
    current = 0
    for line in lines.splitlines() if isinstance(lines, str) else lines:
        if summary := _SUMMARY.search(line):
            current = int(summary.group(1))
        elif (value := _INTEGRATED.match(line)) and current not in found:
            found[current] = -120.0 if value.group(1) == "-inf" else float(value.group(1))
    return [found[k] for k in sorted(found)]


def escape_filter_path(path: str) -> str:
    """Escape a file path for a filter option inside a filtergraph (two levels, per ffmpeg-filters).

    Level one protects the option parser (`\\`, `'`, `:`); level two protects the graph parser
    (`\\`, `'`, `[`, `]`, `,`, `;`).
    """
    level1 = re.sub(r"([\\':])", r"\\\1", path)
    return re.sub(r"([\\'\[\],;])", r"\\\1", level1)
