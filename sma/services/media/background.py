"""Procedural background: a slow animated gradient with soft bokeh, drawn small as a seamless loop.

Why this shape: the renderer loops the clip (`-stream_loop -1`) and scales it to 1080x1920, so we only
draw and encode one short loop at a quarter of the output size. Frames come from numpy (a few
vectorised operations per frame, no per-pixel expressions) and are piped straight into one libx264
encode. Every motion term has a whole number of cycles per loop, so the last frame flows into the first.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import time
from collections.abc import Iterator

import numpy as np

from sma.models.pipeline import BackgroundRequest, BackgroundResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg
from sma.settings import MediaSettings

LOOP_SECONDS = 10.0
VERSION = "1"

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
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg, settings: MediaSettings) -> None:
        self.store = store
        self.ffmpeg = ffmpeg
        self.settings = settings

    def make(self, req: BackgroundRequest) -> BackgroundResult:
        """One loop per (seed, size, fps): a retry or a later run with the same seed reuses the file."""
        started = time.perf_counter()
        key = input_key("background", self._key_inputs(req), version=VERSION)
        ref = self.store.lookup(key)
        notes = ["reused"] if ref else []
        if ref is None:
            with self.store.staging(".mp4") as path:
                self._encode(req.seed or req.project_id, path)
                ref = self.store.put(path, kind="background", key=key)
        return BackgroundResult(
            video=ref, loop=True, tier="procedural", seconds=round(time.perf_counter() - started, 3), notes=notes
        )

    def _key_inputs(self, req: BackgroundRequest) -> dict[str, object]:
        s = self.settings
        return {
            **req.model_dump(mode="json", exclude={"run_id"}),
            "size": self.size(),
            "fps": s.fps,
            "loop_s": LOOP_SECONDS,
        }

    def size(self) -> tuple[int, int]:
        """Drawing size: the output divided by `background_scale`, rounded to even for yuv420p."""
        scale = max(1, self.settings.background_scale)
        return _even(self.settings.width / scale), _even(self.settings.height / scale)

    def _encode(self, seed: str, path) -> None:  # type: ignore[no-untyped-def]
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


class Scene:
    """The deterministic content of one loop: palette, gradient sweep and bokeh paths, all from the seed."""

    def __init__(self, seed: str, width: int, height: int, frames: int) -> None:
        digest = hashlib.sha256(seed.encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        self.width, self.height, self.count = width, height, frames
        self.stops = np.array([_rgb(c) for c in PALETTES[digest[8] % len(PALETTES)]], dtype=np.float32)
        self.base_angle = float(rng.uniform(0, 2 * math.pi))
        self.hue_swing = float(rng.uniform(0.04, 0.08))  # fraction of the colour wheel, peak to centre
        self.xs = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
        self.ys = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
        self.vignette = (1.0 - 0.55 * (self.xs**2 + self.ys**2)).astype(np.float32)
        self.bokeh = [_Bokeh.random(rng, width, height) for _ in range(7)]

    def frames(self) -> Iterator[bytes]:
        """Planar frames in ffmpeg's `gbrp` order, so no interleaving copy is needed."""
        for index in range(self.count):
            yield self.frame(index)[[1, 2, 0]].tobytes()

    def frame(self, index: int) -> np.ndarray:
        """One frame as planar RGB uint8, shape (3, height, width)."""
        phase = 2 * math.pi * index / self.count
        stops = _hue_shift(self.stops, self.hue_swing * math.sin(phase))
        angle = self.base_angle + 0.45 * math.sin(phase)
        u = self.xs * np.float32(1.2 * math.cos(angle)) + self.ys * np.float32(1.2 * math.sin(angle))
        u += np.float32(0.5)
        np.clip(u, 0.0, 1.0, out=u)
        # Quadratic Bezier through the three stops, written as a + u * (b + u * c) per channel.
        a, b, c = stops[0], 2 * (stops[1] - stops[0]), stops[0] - 2 * stops[1] + stops[2]
        image = np.empty((3, self.height, self.width), dtype=np.float32)
        for ch in range(3):
            plane = image[ch]
            np.multiply(u, np.float32(c[ch]), out=plane)
            plane += np.float32(b[ch])
            plane *= u
            plane += np.float32(a[ch])
            plane *= self.vignette
        tint = _hue_shift(self.stops, self.hue_swing * math.sin(phase) + 0.08)
        for dot in self.bokeh:
            dot.draw(image, phase, tint)
        np.clip(image, 0, 255, out=image)
        return image.astype(np.uint8)


class _Bokeh:
    """A soft disc on a closed Lissajous path (whole cycles per loop, so the loop is seamless)."""

    def __init__(self, cx: float, cy: float, ax: float, ay: float, kx: int, ky: int, px: float, py: float,
                 radius: float, alpha: float, stop: int) -> None:
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
