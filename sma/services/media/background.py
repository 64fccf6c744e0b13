"""Step 7: the background. Stock footage from Pexels, fresh per project, else a procedural loop.

Chain (`media.visuals.backgrounds`): `pexels` needs an API key; it searches portrait clips, skips any
clip used by the project's last N videos (recorded in `media_background_uses`), downloads the smallest
rendition that is tall enough and normalises it once (cropped to 9:16, scaled to `stock_height`, the
output frame rate, no audio) so the render decodes little. Any failure hands over to the procedural
tier, which always works offline.

Procedural background: a slow animated gradient with soft bokeh, drawn small as a seamless loop. The
renderer loops the clip (`-stream_loop -1`) and scales it to 1080x1920, so we only draw and encode one
short loop at a quarter of the output size. Frames come from numpy (a few vectorised operations per
frame, no per-pixel expressions) and are piped straight into one libx264 encode. Every motion term has
a whole number of cycles per loop, so the last frame flows into the first.

The gradient's motion is a slide of its colours along its own direction, not a hue or angle drift: x264
follows a slide with motion vectors, while a drift changes every pixel a little every frame and each
macroblock then carries a residual (the slide: 40 % fewer bytes, ~20 % less encode CPU; plan 018).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import structlog

from sma.models.common import ArtifactRef
from sma.models.pipeline import BackgroundRequest, BackgroundResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.services.media.pexels import PexelsClient, PexelsError, StockClip
from sma.services.media.usage import BackgroundUsage, Pick
from sma.settings import MediaSettings

log = structlog.get_logger("sma.media.background")
LOOP_SECONDS = 10.0
SLIDE = 0.12  # peak shift of the gradient along its direction, as a fraction of the frame
VERSION = "2"
STOCK_VERSION = "1"

# Dark, saturated three-stop palettes (hex); white captions stay readable on all of them.
PALETTES: tuple[tuple[str, str, str], ...] = (
    ("#0f0c29", "#302b63", "#24243e"),
    ("#141e30", "#243b55", "#1a2a3a"),
    ("#200122", "#6f0000", "#2b0f2e"),
    ("#0b3d2e", "#134e5e", "#0a2a1f"),
    ("#1f1c2c", "#3a2f5b", "#0d324d"),
    ("#2c0b3a", "#0d3b66", "#101820"),
    ("#3a1c71", "#1b1464", "#0b0a2a"),
    ("#0a2342", "#2ca58d", "#0b132b"),
)


class BackgroundService:
    def __init__(
        self, store: ArtifactStore, ffmpeg: FFmpeg, settings: MediaSettings,
        stock: PexelsClient | None = None, usage: BackgroundUsage | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.ffmpeg = ffmpeg
        self.settings = settings
        self.stock = stock
        self.usage = usage

    def make(self, req: BackgroundRequest) -> BackgroundResult:
        """The first tier of the chain that yields a clip; procedural is always the last resort."""
        started = time.perf_counter()
        notes: list[str] = []
        result: BackgroundResult | None = None
        if "pexels" in self.settings.visuals.backgrounds:
            result = self._stock(req, notes)
        if result is None:
            result = self._procedural(req, notes)
            self._record(req, Pick("procedural"))
        return result.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})

    # ------------------------------------------------------------ stock footage

    def _stock(self, req: BackgroundRequest, notes: list[str]) -> BackgroundResult | None:
        if self.stock is None:
            notes.append("pexels: skipped (no pexels_api_key in the secrets)")
            return None
        earlier = self.usage.pick_for(req.project_id, req.run_id) if self.usage else None
        if earlier is not None and earlier.provider != "pexels":
            notes.append(f"pexels: skipped (this run already has a {earlier.provider} background)")
            return None
        try:
            clip = _clip_of(earlier) if earlier is not None else self._choose(req, notes)
            if clip is None:
                return None
            ref = self._normalised(clip, req)
        except (PexelsError, httpx.HTTPError, FFmpegError, OSError) as exc:
            log.warning("stock background failed", error=str(exc), project=req.project_id)
            notes.append(f"pexels: failed ({exc})")
            return None
        query = earlier.query if earlier is not None else self.query(req)
        self._record(req, Pick("pexels", clip.id, query, clip.file_url, clip.page_url, clip.author))
        notes.append(f"pexels clip {clip.id} by {clip.author or 'unknown'} ({clip.page_url or clip.file_url})")
        return BackgroundResult(video=ref, loop=True, tier="pexels", notes=notes)

    def query(self, req: BackgroundRequest) -> str:
        """The request's words, else one of the configured queries, picked by the seed (varies per video)."""
        if req.query.strip():
            return req.query.strip()
        queries = self.settings.visuals.pexels_queries or ["abstract background"]
        digest = hashlib.sha256((req.seed or req.run_id).encode()).digest()
        return queries[digest[0] % len(queries)]

    def _choose(self, req: BackgroundRequest, notes: list[str]) -> StockClip | None:
        """The most relevant clip not used by the project's last N videos, over a few result pages."""
        assert self.stock is not None
        v = self.settings.visuals
        recent = self.usage.recent_clips(req.project_id, v.freshness_videos, req.run_id) if self.usage else set()
        if self.usage is None:
            notes.append("pexels: freshness not tracked (no database)")
        query = self.query(req)
        for page in range(1, v.pexels_max_pages + 1):
            clips = self.stock.search(query, page, min_height=v.stock_height)
            fresh = [c for c in clips if c.id not in recent]
            if fresh:
                return fresh[0]
            if not clips:
                break
        notes.append(f"pexels: no clip for {query!r} that the last {v.freshness_videos} videos did not use")
        return None

    def _normalised(self, clip: StockClip, req: BackgroundRequest) -> ArtifactRef:
        """The clip cropped to 9:16 at `stock_height`, at the output frame rate, as long as the video needs."""
        s, v = self.settings, self.settings.visuals
        height = _even(v.stock_height)
        width = _even(height * s.width / s.height)
        length = round(max(LOOP_SECONDS, req.duration_s + 1.0), 1)
        inputs = {"clip": clip.id, "file": clip.file_url, "size": [width, height], "fps": s.fps, "length": length}
        key = input_key("stock_background", inputs, version=STOCK_VERSION)
        ref = self.store.lookup(key)
        if ref is not None:
            return ref
        with self.store.staging(".mp4") as raw, self.store.staging(".mp4") as out:
            assert self.stock is not None
            self.stock.download(clip, raw)
            video = (f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,"
                     f"crop={width}:{height},fps={s.fps},format=yuv420p,setsar=1")  # fmt: skip
            gop = str(2 * s.fps)
            self.ffmpeg.run([
                "-loglevel", "error", "-i", str(raw), "-t", f"{length:.1f}", "-vf", video, "-an",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", gop, "-keyint_min", gop,
                "-threads", str(s.threads), "-movflags", "+faststart", str(out),
            ], duration_s=min(length, clip.duration_s or length), timeout=600)  # fmt: skip
            return self.store.put(out, kind="background", key=key)

    def _record(self, req: BackgroundRequest, pick: Pick) -> None:
        if self.usage is None:
            return
        try:
            self.usage.record(req.project_id, req.run_id, pick)
        except Exception as exc:  # best effort: a database hiccup must not cost the video its background
            log.warning("background use not recorded", error=str(exc), project=req.project_id)

    # ------------------------------------------------------------ procedural

    def _procedural(self, req: BackgroundRequest, notes: list[str]) -> BackgroundResult:
        """One loop per (seed, size, fps): a retry or a later run with the same seed reuses the file."""
        key = input_key("background", self._key_inputs(req), version=VERSION)
        ref = self.store.lookup(key)
        if ref is not None:
            notes.append("reused")
        else:
            with self.store.staging(".mp4") as path:
                self._encode(req.seed or req.project_id, path)
                ref = self.store.put(path, kind="background", key=key)
        return BackgroundResult(video=ref, loop=True, tier="procedural", notes=notes)

    def _key_inputs(self, req: BackgroundRequest) -> dict[str, object]:
        """Everything that shapes the pixels. Not run_id (another run with the same seed reuses the loop),
        not duration_s (the loop length is fixed; the renderer loops it to any length) and not query."""
        s = self.settings
        return {
            **req.model_dump(mode="json", exclude={"run_id", "duration_s", "query"}),
            "size": self.size(),
            "fps": s.fps,
            "loop_s": LOOP_SECONDS,
        }

    def size(self) -> tuple[int, int]:
        """Drawing size: the output divided by `background_scale`, rounded to even for yuv420p."""
        scale = max(1, self.settings.background_scale)
        return _even(self.settings.width / scale), _even(self.settings.height / scale)

    def _encode(self, seed: str, path: Path) -> None:
        width, height = self.size()
        frames = round(LOOP_SECONDS * self.settings.fps)
        scene = Scene(seed, width, height, frames)
        args = [
            "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "gbrp", "-s", f"{width}x{height}",
            "-framerate", str(self.settings.fps), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-g", str(frames), "-keyint_min", str(frames), "-sc_threshold", "0",
            "-threads", str(self.settings.threads), "-movflags", "+faststart", "-an", str(path),
        ]  # fmt: skip
        self.ffmpeg.run(args, feed=scene.frames())


def _clip_of(pick: Pick) -> StockClip:
    """The clip a previous attempt of this run chose, fetched again from its recorded rendition."""
    return StockClip(id=pick.clip_id, duration_s=0.0, width=0, height=0, file_url=pick.file_url,
                     page_url=pick.page_url, author=pick.author)  # fmt: skip


class Scene:
    """The deterministic content of one loop: palette, gradient direction and bokeh paths, all from the seed."""

    def __init__(self, seed: str, width: int, height: int, frames: int) -> None:
        digest = hashlib.sha256(seed.encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        self.width, self.height, self.count = width, height, frames
        self.stops = np.array([_rgb(c) for c in PALETTES[digest[8] % len(PALETTES)]], dtype=np.float32)
        angle = float(rng.uniform(0, 2 * math.pi))
        self.slide = SLIDE
        xs = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
        ys = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
        self.vignette = (1.0 - 0.55 * (xs**2 + ys**2)).astype(np.float32)
        self.u0 = (xs * np.float32(1.2 * math.cos(angle)) + ys * np.float32(1.2 * math.sin(angle))).astype(np.float32)
        self.tint = _hue_shift(self.stops, 0.08)
        self.bokeh = [_Bokeh.random(rng, width, height) for _ in range(7)]

    def frames(self) -> Iterator[bytes]:
        """Planar frames in ffmpeg's `gbrp` order, so no interleaving copy is needed."""
        for index in range(self.count):
            yield self.frame(index)[[1, 2, 0]].tobytes()

    def frame(self, index: int) -> np.ndarray:
        """One frame as planar RGB uint8, shape (3, height, width)."""
        phase = 2 * math.pi * index / self.count
        u = self.u0 + np.float32(0.5 + self.slide * math.sin(phase))
        np.clip(u, 0.0, 1.0, out=u)
        # Quadratic Bezier through the three stops, written as a + u * (b + u * c) per channel.
        stops = self.stops
        a, b, c = stops[0], 2 * (stops[1] - stops[0]), stops[0] - 2 * stops[1] + stops[2]
        image = np.empty((3, self.height, self.width), dtype=np.float32)
        for ch in range(3):
            plane = image[ch]
            np.multiply(u, np.float32(c[ch]), out=plane)
            plane += np.float32(b[ch])
            plane *= u
            plane += np.float32(a[ch])
            plane *= self.vignette
        for dot in self.bokeh:
            dot.draw(image, phase, self.tint)
        np.clip(image, 0, 255, out=image)
        return image.astype(np.uint8)


class _Bokeh:
    """A soft disc on a closed Lissajous path (whole cycles per loop, so the loop is seamless)."""

    def __init__(
        self,
        cx: float,
        cy: float,
        ax: float,
        ay: float,
        kx: int,
        ky: int,
        px: float,
        py: float,
        radius: float,
        alpha: float,
        stop: int,
    ) -> None:
        self.cx, self.cy, self.ax, self.ay = cx, cy, ax, ay
        self.kx, self.ky, self.px, self.py = kx, ky, px, py
        self.radius, self.alpha, self.stop = radius, alpha, stop

    @classmethod
    def random(cls, rng: np.random.Generator, width: int, height: int) -> _Bokeh:
        return cls(
            cx=float(rng.uniform(0.1, 0.9) * width), cy=float(rng.uniform(0.05, 0.95) * height),
            ax=float(rng.uniform(0.05, 0.18) * width), ay=float(rng.uniform(0.04, 0.12) * height),
            kx=int(rng.integers(1, 3)), ky=int(rng.integers(1, 3)),
            px=float(rng.uniform(0, 2 * math.pi)), py=float(rng.uniform(0, 2 * math.pi)),
            radius=float(rng.uniform(0.07, 0.2) * width), alpha=float(rng.uniform(0.10, 0.24)),
            stop=int(rng.integers(0, 3)),
        )  # fmt: skip

    def draw(self, image: np.ndarray, phase: float, tint: np.ndarray) -> None:
        height, width = image.shape[1:]
        x = self.cx + self.ax * math.sin(self.kx * phase + self.px)
        y = self.cy + self.ay * math.sin(self.ky * phase + self.py)
        r = self.radius * (1.0 + 0.08 * math.sin(phase + self.px))
        x0, x1 = max(0, int(x - r)), min(width, int(x + r) + 1)
        y0, y1 = max(0, int(y - r)), min(height, int(y + r) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        gy, gx = np.ogrid[y0:y1, x0:x1]
        d = np.sqrt((gx - x) ** 2 + (gy - y) ** 2, dtype=np.float32) / r
        soft = np.clip((1.0 - d) / 0.45, 0.0, 1.0)
        a = self.alpha * soft * soft * (3 - 2 * soft)  # smoothstep edge: reads as a blurred disc
        colour = 0.35 * tint[self.stop] + 0.65 * 235.0
        for ch in range(3):
            patch = image[ch, y0:y1, x0:x1]
            patch += a * (np.float32(colour[ch]) - patch)


def _hue_shift(colours: np.ndarray, turns: float) -> np.ndarray:
    out = np.empty_like(colours)
    for i, (r, g, b) in enumerate(colours / 255.0):
        h, lum, s = colorsys.rgb_to_hls(float(r), float(g), float(b))
        out[i] = np.array(colorsys.hls_to_rgb((h + turns) % 1.0, lum, s), dtype=np.float32) * 255.0
    return out


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
