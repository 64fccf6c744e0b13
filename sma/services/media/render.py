"""Step 9: the final video, from one ffmpeg process running one filter graph.

Why one graph: every frame is decoded, composited and encoded exactly once, with no Python per frame and
no intermediate files, so the render costs little more than encoding the background alone (see
bench/render.py). Layout: background looped and scaled up, overlays and captions where the layout engine
puts them for the target platforms (layout.py: never over captions or platform buttons), captions burned
in by libass with our own fonts, voice over ducked music normalised to the platform loudness. The cache
key covers the request and every output setting, so a new encoder, preset or crf renders again.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

import sma
from sma.models.common import ArtifactRef
from sma.models.pipeline import Overlay, RenderRequest, RenderResult
from sma.services.artifacts import ArtifactStore, input_key, sha256_file
from sma.services.media.cards import INTRO_GAP, intro_band, outro_card
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.services.media.fonts import SUFFIXES as FONT_SUFFIXES
from sma.services.media.layout import Layout, Placement, Rect, position_captions
from sma.services.media.look import layout_for_look, look_with_font
from sma.settings import MediaSettings

FONTS_DIR = Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"
TAIL_S = 0.6
MUSIC_UNDER_VOICE_DB = 20.0  # music sits this far below the voice before ducking
FADE_S = 0.25  # overlay fade in/out
MUSIC_FADE_OUT_S = 1.5
AUDIO_FORMAT = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo"
# Speech from TTS engines can peak 20 dB over its loudness (Piper does); a fast peak compressor takes the
# spikes off so that the final limiter only shaves what is left, and the loudness target is reachable.
VOICE_DYNAMICS = "acompressor=threshold=0.3:ratio=8:attack=0.5:release=40:detection=peak:knee=2"
LIMITER = f"alimiter=limit={10 ** (-2.0 / 20):.4f}:level=false:latency=true"  # -2 dBFS: room for -1.5 dBTP
LEVEL_PASSES = 2  # measure-and-correct passes over the voice chain; each is audio only, a fraction of a second
LEVEL_TOLERANCE_LU = 0.3
SILENCE_LUFS = -70.0  # ebur128's absolute gate: anything quieter is silence, not a level to match
# The levelled voice keys the compressor: music drops ~8 dB while someone speaks, back within ~0.4 s.
DUCKING = "sidechaincompress=threshold=0.05:ratio=6:attack=20:release=400:knee=4"
# Without a background artifact: lavfi's slowly turning gradient, drawn small like the procedural loop. A
# flat colour would do, but with only captions moving QA_VISUAL rightly reports the video as frozen.
FALLBACK_BACKGROUND = "gradients=c0=0x1c2233:c1=0x3a2f5b:c2=0x0d324d:nb_colors=3:speed=0.01:seed=7"
SLIDE_PX = 48  # a sliding card rises this far into place while it fades in
FONTS_BESIDE = "libass-fonts"  # a font folder beside the placed captions, for libass
LOGO_FILTER = "lanczos"
VERSION = "4"

_NVENC_PRESETS = {
    "ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
    "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7",
}  # fmt: skip


@dataclass(frozen=True)
class Levels:
    """Gains (dB) that bring the mix to the target loudness, found by measuring before the render."""

    voice_db: float  # before the peak compressor: brings the voice to the target
    makeup_db: float  # after it: gives back what compression took, as measured
    music_db: float  # puts the music MUSIC_UNDER_VOICE_DB under the levelled voice


class RenderService:
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg, settings: MediaSettings) -> None:
        self.store = store
        self.ffmpeg = ffmpeg
        self.settings = settings

    def render(self, req: RenderRequest, on_progress: Callable[[float], None] | None = None) -> RenderResult:
        """Render once per request: a retry after a crash finds the finished video by its input key."""
        started = time.perf_counter()
        encoder = self.encoder()
        key = self.cache_key(req, encoder)
        ref = self.store.lookup(key)
        notes: list[str] = []
        if ref is None:
            duration = self.output_duration(req)
            with self.store.staging_dir() as work, self.store.staging(".mp4") as path:
                placed = self.prepare(req, work, notes)
                encoder = self._render_with_fallback(placed, path, duration, encoder, on_progress, notes)
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

    def cache_key(self, req: RenderRequest, encoder: str) -> str:
        """The request plus every setting that changes the output: a new encoder, preset, crf, size, loudness
        target or safe-zone table re-renders instead of handing back the old file."""
        s = self.settings
        return input_key("render", {
            "request": req.model_dump(mode="json"),
            "encoder": encoder, "preset": s.preset, "crf": s.crf, "fps": s.fps, "size": [s.width, s.height],
            "audio_bitrate": s.audio_bitrate, "target_lufs": s.target_lufs,
            "layout": repr(self.layout(req)), "brand": self.settings.look_for(req.project_id).brand.model_dump(),
            "logo": sha256_file(Path(logo)) if (logo := self._logo_path(req)) else "",
        }, version=VERSION)  # fmt: skip

    def layout(self, req: RenderRequest) -> Layout:
        return layout_for_look(req.platforms, self.settings, req.project_id)

    def prepare(self, req: RenderRequest, work: Path, notes: list[str]) -> RenderRequest:
        """The request with captions and overlays placed by the layout (files written under `work`).

        Captions move to the layout's caption band; an overlay that would cover captions or a platform's
        interface is moved (and scaled) into the overlay region. Both are notes on the step.
        """
        layout = self.layout(req)
        captions = req.captions
        try:
            text = Path(req.captions.path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise FFmpegError(f"cannot read the captions {req.captions.path}: {exc.strerror or exc}") from exc
        placed_text = position_captions(text, layout)
        fonts = self.caption_fonts(req, work, notes)
        if placed_text != text or fonts is not None:
            target = work / "captions.ass"
            target.write_text(placed_text, encoding="utf-8")
            captions = req.captions.model_copy(update={"path": str(target)})
        overlays = [self._fit_overlay(o, layout, i, notes) for i, o in enumerate(req.overlays)]
        overlays = self.brand_cards(req, overlays, layout, work, notes)
        logo = self.logo_overlay(req, layout, notes)
        return req.model_copy(update={"captions": captions, "overlays": overlays + ([logo] if logo else [])})

    def caption_fonts(self, req: RenderRequest, work: Path, notes: list[str]) -> Path | None:
        """libass's font folder: the shipped fonts, plus the caption font when it lives elsewhere (a PyPI
        font package is not where fontconfig looks). None: the shipped folder has everything."""
        _, font, reason = look_with_font(self.settings, req.project_id)
        if reason:
            notes.append(f"caption {reason}")
        if font.file.resolve().parent == FONTS_DIR or not font.file.is_file():
            return None
        folder = work / FONTS_BESIDE
        folder.mkdir(exist_ok=True)
        for file in [*(p for p in FONTS_DIR.glob("*") if p.suffix.lower() in FONT_SUFFIXES), font.file]:
            link = folder / file.name
            if not link.exists():
                link.symlink_to(file.resolve())
        return folder

    def brand_cards(
        self, req: RenderRequest, overlays: list[Overlay], layout: Layout, work: Path, notes: list[str]
    ) -> list[Overlay]:  # fmt: skip
        """The brand kit's optional intro band and outro card, drawn into the same graph as the storyboard.

        The intro band shares the first seconds with the hook's title card: it sits at the bottom of the
        overlay region, the opening cards are scaled into the room above it, and it leaves with them at the
        latest; the outro card owns the last seconds: storyboard cards end where it starts.
        """
        brand = self.settings.look_for(req.project_id).brand
        duration = self.output_duration(req)
        box = layout.overlays
        if brand.outro.strip():
            start = round(duration - brand.outro_s, 3)
            if start < 1.0:
                notes.append(f"outro card skipped: the video ({duration:.1f} s) is shorter than its {brand.outro_s} s")
            else:
                card = outro_card(brand.outro.strip(), box.w, box.h, brand)
                overlays = [o.model_copy(update={"end_s": min(o.end_s, start)}) for o in overlays if o.start_s < start]
                place = layout.place(*card.size, anchor="center")
                overlays.append(Overlay(image=_png(card, work / "outro.png"), start_s=start, end_s=duration,
                                        x=place.x, y=place.y, width=place.w, height=place.h, motion="slide"))
        if brand.intro.strip():
            card = intro_band(brand.intro.strip(), box.w, brand)
            first = [o.end_s for o in overlays if o.start_s < 0.05]
            end = round(min(brand.intro_s, duration, *first), 3)  # with the opening card, never past it
            band = layout.place(*card.size, anchor="top")
            row = box.bottom - band.h
            room = Rect(box.x, box.y, box.w, row - INTRO_GAP - box.y)
            overlays = [_squeeze(o, room) if o.start_s < end else o for o in overlays]
            overlays.append(Overlay(image=_png(card, work / "intro.png"), start_s=0.0, end_s=end,
                                    x=band.x, y=row, width=band.w, height=band.h))
        return overlays

    def _logo_path(self, req: RenderRequest) -> str | None:
        logo = self.settings.look_for(req.project_id).brand.logo
        return logo if logo and Path(logo).expanduser().is_file() else None

    def logo_overlay(self, req: RenderRequest, layout: Layout, notes: list[str]) -> Overlay | None:
        """The brand's logo as a watermark for the whole video, in its corner of the safe zone."""
        brand = self.settings.look_for(req.project_id).brand
        if not brand.logo:
            return None
        path = self._logo_path(req)
        if path is None:
            notes.append(f"brand logo {brand.logo} not found: the video has no watermark")
            return None
        place = logo_placement(path, brand.logo_width, brand.logo_corner, layout)
        ref = ArtifactRef(path=str(Path(path).expanduser().resolve()), sha256="", size=0, kind="image")
        return Overlay(image=ref, start_s=0.0, end_s=round(self.output_duration(req), 3), x=place.x, y=place.y,
                       width=place.w, height=place.h, motion="fade", opacity=brand.logo_opacity)

    def _fit_overlay(self, overlay: Overlay, layout: Layout, index: int, notes: list[str]) -> Overlay:
        w, h = overlay_size(overlay)
        fitted = layout.fit(overlay.x, overlay.y, w, h)
        if (fitted.x, fitted.y, fitted.w, fitted.h) == (overlay.x, overlay.y, w, h):
            return overlay
        notes.append(f"overlay {index + 1} moved into the safe zone: {w}x{h}+{overlay.x}+{overlay.y} -> "
                     f"{fitted.w}x{fitted.h}+{fitted.x}+{fitted.y}")
        return overlay.model_copy(update={"x": fitted.x, "y": fitted.y, "width": fitted.w, "height": fitted.h})

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
        levels = self.plan_levels(req)
        try:
            self.ffmpeg.run(self.build_args(req, path, duration, encoder, levels), duration, on_progress)
            return encoder
        except FFmpegError as exc:
            if encoder == "libx264":
                raise
            notes.append(f"{encoder} failed, re-rendered with libx264: {str(exc).splitlines()[0]}")
        self.ffmpeg.run(self.build_args(req, path, duration, "libx264", levels), duration, on_progress)
        return "libx264"

    # ------------------------------------------------------------ the command

    def build_args(
        self, req: RenderRequest, out: Path, duration: float, encoder: str, levels: Levels | None = None
    ) -> list[str]:
        """The full ffmpeg command line (after the global flags) for one render.

        `levels` None means unmeasured: the mix is then levelled by single-pass loudnorm.
        """
        inputs, graph = self._inputs(req), Graph()
        video = self._video_chain(req, graph, duration)
        audio = self._audio_chain(req, graph, duration, levels)
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
            scale = max(1, s.background_scale)
            size = f"{s.width // scale // 2 * 2}x{s.height // scale // 2 * 2}"
            args = ["-f", "lavfi", "-i", f"{FALLBACK_BACKGROUND}:s={size}:r={s.fps}"]
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
        )
        for i, overlay in enumerate(req.overlays):
            card = graph.add(f"[{first_overlay + i}:v]", _overlay_source(overlay, s.fps, duration))
            label = graph.add(
                label + card,
                f"overlay=x={overlay.x}:y={_overlay_y(overlay)}:eof_action=pass:format=yuv420"
                f":enable='between(t,{overlay.start_s:.3f},{overlay.end_s:.3f})'",
            )
        beside = Path(req.captions.path).parent / FONTS_BESIDE  # prepare's folder when the font is elsewhere
        fonts = escape_filter_path(str(beside if beside.is_dir() else FONTS_DIR))
        subtitles = f"ass=filename={escape_filter_path(req.captions.path)}:fontsdir={fonts}"
        return graph.add(label, subtitles)

    def _audio_chain(self, req: RenderRequest, graph: Graph, duration: float, levels: Levels | None) -> str:
        """Voice over ducked music, levelled to the target loudness.

        With measured levels, levelling is fixed gains, a peak compressor on the voice and a limiter:
        on target, free of the pumping of dynamic loudnorm, and cheaper (loudnorm resamples to 192 kHz).
        """
        target = self.settings.target_lufs
        if levels is None:
            level = f"loudnorm=I={target}:TP=-1.5:LRA=11"
            voice_chain = f"{AUDIO_FORMAT},apad"
            music_gain = -MUSIC_UNDER_VOICE_DB
        else:
            level = LIMITER
            voice_chain = f"{_voice_chain(levels)},apad"
            music_gain = levels.music_db
        tail = f"{level},aresample=48000,atrim=duration={duration:.3f}"
        if req.music is None:
            return graph.add("[1:a]", f"{voice_chain},{tail}")
        voice, sidechain = graph.split("[1:a]", voice_chain)
        music = graph.add(
            "[2:a]",
            f"{AUDIO_FORMAT},volume={music_gain:.2f}dB,apad,"
            f"afade=t=out:st={max(0.0, duration - MUSIC_FADE_OUT_S):.3f}:d={MUSIC_FADE_OUT_S}",
        )
        ducked = graph.add(music + sidechain, DUCKING)
        return graph.add(voice + ducked, f"amix=inputs=2:duration=first:normalize=0,{tail}")

    def _video_codec(self, encoder: str) -> list[str]:
        s = self.settings
        common = ["-pix_fmt", "yuv420p", "-r", str(s.fps)]
        if encoder == "h264_nvenc":
            preset = _NVENC_PRESETS.get(s.preset, "p4")
            return ["-c:v", "h264_nvenc", "-preset", preset, "-rc", "vbr", "-cq", str(s.crf), "-b:v", "0", *common]
        return ["-c:v", "libx264", "-preset", s.preset, "-crf", str(s.crf), *common]

    # ------------------------------------------------------------ loudness

    def plan_levels(self, req: RenderRequest) -> Levels | None:
        """Measure the inputs, then the voice chain itself, correcting its makeup gain until on target.

        A fixed gain cannot be computed from the input loudness alone, because the compressor and the
        limiter take a share that depends on how peaky the voice is; so the chain is measured (audio only,
        a fraction of a second a pass) and corrected. None when the voice cannot be measured.
        """
        target = self.settings.target_lufs
        music = req.music.path if req.music is not None else None
        voice_lufs, music_lufs = self._loudness(req.voice.path, music)
        if voice_lufs is None or voice_lufs < SILENCE_LUFS:
            return None
        # Music this far under the voice adds 10*log10(1 + 10^(-x/10)) to the mix (0.04 dB at 20 dB).
        music_share = 10 * math.log10(1 + 10 ** (-MUSIC_UNDER_VOICE_DB / 10)) if music else 0.0
        music_db = -MUSIC_UNDER_VOICE_DB  # unmeasured music: assume a full-scale master
        if music_lufs is not None and music_lufs > SILENCE_LUFS:
            music_db = (target - MUSIC_UNDER_VOICE_DB) - music_lufs
        levels = Levels(voice_db=target - voice_lufs, makeup_db=0.0, music_db=music_db)
        for _ in range(LEVEL_PASSES):
            out, _ = self._loudness(req.voice.path, None, f"{_voice_chain(levels)},{LIMITER}")
            if out is None or out < SILENCE_LUFS:
                return levels
            error = target - music_share - out
            levels = replace(levels, makeup_db=levels.makeup_db + error)
            if abs(error) < LEVEL_TOLERANCE_LU:
                break
        return levels

    def _loudness(
        self, voice: str, music: str | None, voice_chain: str = AUDIO_FORMAT
    ) -> tuple[float | None, float | None]:
        """Integrated loudness of the voice (through `voice_chain`) and the music, in one audio-only pass."""
        paths = [voice] + ([music] if music else [])
        chains = [voice_chain, AUDIO_FORMAT]
        args: list[str] = []
        for path in paths:
            args += ["-i", path]
        graph = ";".join(f"[{i}:a]{chains[i]},ebur128=framelog=quiet[a{i}]" for i in range(len(paths)))
        args += ["-filter_complex", graph]
        for i in range(len(paths)):
            args += ["-map", f"[a{i}]", "-f", "null", "-"]
        try:
            values = parse_integrated(self.ffmpeg.capture(args, timeout=300))
        except FFmpegError:
            return None, None
        if len(values) != len(paths):
            return None, None
        return values[0], values[1] if len(values) > 1 else None


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


def overlay_size(overlay: Overlay) -> tuple[int, int]:
    """The size the overlay is drawn at: its own fields, else the image's (read from the header only); a
    sprite sheet's size is one frame's."""
    if overlay.width > 0 and overlay.height > 0:
        return overlay.width, overlay.height
    w, h = _image_size(overlay.image.path)
    return w, h // overlay.frames


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise FFmpegError(f"cannot read the overlay image {path}: {exc}") from exc


def logo_placement(path: str, width: int, corner: str, layout: Layout) -> Placement:
    """The logo scaled to `width` (of a 1080-wide frame, aspect kept, even sizes) in its safe-zone corner."""
    w0, h0 = _image_size(path)
    w = max(2, round(width * layout.width / 1080) // 2 * 2)
    h = max(2, round(h0 * w / max(1, w0)) // 2 * 2)
    return layout.corner(w, h, corner)


def _png(image: Image.Image, path: Path) -> ArtifactRef:
    image.save(path, compress_level=3)
    return ArtifactRef(path=str(path), sha256="", size=path.stat().st_size, kind="image")


def _squeeze(overlay: Overlay, room: Rect) -> Overlay:
    """The overlay scaled down (aspect kept) and centred into `room` when it does not fit there, keeping
    SLIDE_PX under a sliding card for its rise."""
    w, h = overlay_size(overlay)
    rise = SLIDE_PX if overlay.motion == "slide" else 0
    if room.contains(Rect(overlay.x, overlay.y, w, h + rise)):
        return overlay
    scale = min(1.0, room.w / max(1, w), (room.h - rise) / max(1, h))
    dw, dh = max(2, math.floor(w * scale) // 2 * 2), max(2, math.floor(h * scale) // 2 * 2)
    x, y = room.x + (room.w - dw) // 2, room.y + (room.h - rise - dh) // 2
    return overlay.model_copy(update={"x": x, "y": y, "width": dw, "height": dh})


def _overlay_y(overlay: Overlay) -> str:
    """A fixed row, or for a sliding card a row that eases from SLIDE_PX below into place during the fade."""
    if overlay.motion != "slide":
        return str(overlay.y)
    length = max(0.001, overlay.end_s - overlay.start_s)
    fade = min(FADE_S, length / 3)
    return f"'{overlay.y}+{SLIDE_PX}*pow(max(0,1-(t-{overlay.start_s:.3f})/{fade:.3f}),2)'"


def _overlay_source(overlay: Overlay, fps: int, duration: float) -> str:
    """A still card decoded once, repeated in memory for its window only, with alpha fades.

    `loop` repeats the decoded frame instead of re-reading the PNG every frame, and `trim` ends the
    stream when the window closes, so the overlay costs nothing outside its window. A card drawn at a
    different size than its file is scaled once, before the loop.
    """
    start = max(0.0, min(overlay.start_s, duration))
    length = max(1.0 / fps, min(overlay.end_s, duration) - start)
    fade = min(FADE_S, length / 3)
    n = overlay.frames
    scale = ""
    if overlay.width > 0 and overlay.height > 0:
        scale = f"scale={overlay.width}:{overlay.height // 2 * 2 * n if n > 1 else overlay.height}:flags=lanczos,"
    alpha = f"colorchannelmixer=aa={overlay.opacity:.3f}," if overlay.opacity < 1.0 else ""
    # A sprite sheet shows frame k = (t - start) / frame_s, then holds the last; one crop, evaluated per frame.
    sprite = (
        f"crop=w=iw:h=ih/{n}:x=0:y='ih/{n}*min({n - 1},floor(max(0,t-{start:.3f})/{overlay.frame_s:.3f}))',"
        if n > 1 else ""
    )  # fmt: skip
    return (
        f"{scale}{alpha}format=yuva420p,loop=loop=-1:size=1:start=0,trim=duration={length:.3f},"
        f"setpts=PTS-STARTPTS+{start:.3f}/TB,{sprite}"
        f"fade=t=in:st={start:.3f}:d={fade:.3f}:alpha=1,"
        f"fade=t=out:st={start + length - fade:.3f}:d={fade:.3f}:alpha=1"
    )


def _voice_chain(levels: Levels) -> str:
    return f"{AUDIO_FORMAT},volume={levels.voice_db:.2f}dB,{VOICE_DYNAMICS},volume={levels.makeup_db:.2f}dB"


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
