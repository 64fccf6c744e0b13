"""Mermaid diagrams through the Mermaid CLI (`mmdc`), themed to the background they sit on.

Why the CLI: Mermaid is a browser library; `mmdc` (npm @mermaid-js/mermaid-cli) drives a headless Chrome
to lay it out, which no Python package does. It is an optional tool: when it is missing the images step
says so in its notes and the video is rendered without the diagram. The PNG is drawn on a rounded panel
of the theme's colour, so it stays readable on any background frame.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFilter

from sma.settings import VisualSettings

Theme = Literal["dark", "default"]
LIGHT_BACKGROUND = 0.5  # mean luma (0..1) above which a background counts as light
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PANELS: dict[str, tuple[int, int, int, int]] = {"dark": (24, 26, 33, 232), "default": (248, 248, 246, 240)}
DEFAULT_CLI = "mmdc"
LOCAL_MMDC = Path(__file__).resolve().parents[3] / ".tools" / "mermaid" / "node_modules" / ".bin" / "mmdc"
"""Where scripts/install_mermaid.sh puts the CLI in a checkout (scripts/test.sh runs it)."""


class DiagramError(RuntimeError):
    """mmdc ran and failed (bad diagram source, browser crash); the message carries its output."""


class DiagramRenderer:
    def __init__(self, settings: VisualSettings) -> None:
        self.settings = settings

    def command(self) -> str | None:
        """The configured CLI on PATH; for the default name also the checkout's own install."""
        found = shutil.which(self.settings.mermaid_cli)
        if found is None and self.settings.mermaid_cli == DEFAULT_CLI and LOCAL_MMDC.is_file():
            return str(LOCAL_MMDC)
        return found

    def unavailable_reason(self) -> str | None:
        if self.command() is None:
            return (f"Mermaid CLI {self.settings.mermaid_cli!r} is not installed "
                    "(npm install -g @mermaid-js/mermaid-cli); diagram left out")  # fmt: skip
        return None

    def render(self, source: str, theme: Theme, width: int, out_png: Path) -> None:
        """Lay out `source` with `mmdc` into `out_png` (transparent background, 2x scale for sharp lines)."""
        cli = self.command()
        if cli is None:
            raise DiagramError(self.unavailable_reason() or "mmdc missing")
        work = out_png.parent
        src = work / "diagram.mmd"
        src.write_text(source.strip() + "\n", encoding="utf-8")
        cmd = [cli, "--quiet", "-i", str(src), "-o", str(out_png), "-t", theme, "-b", "transparent",
               "-w", str(max(400, width // 2)), "-s", "2"]  # fmt: skip
        config = _puppeteer_config(work)
        if config is not None:
            cmd += ["-p", str(config)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.settings.mermaid_timeout_s,
                                  check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise DiagramError(f"mmdc timed out after {self.settings.mermaid_timeout_s:.0f} s") from exc
        if done.returncode != 0 or not out_png.is_file() or out_png.stat().st_size == 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DiagramError(f"mmdc exited with status {done.returncode}: {' | '.join(tail)}")


def _puppeteer_config(work: Path) -> Path | None:
    """Point puppeteer at a system Chrome/Chromium (mermaid-cli installed with PUPPETEER_SKIP_DOWNLOAD);
    None when no system browser is found. No sandbox: chromium's namespace sandbox is refused as root and
    under Docker's default seccomp profile, and the page is a local diagram. Docker's /dev/shm is 64 MB."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if browser is None:
        return None
    config = work / "puppeteer.json"
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    config.write_text(json.dumps({"executablePath": browser, "args": args}))
    return config


def theme_for(luma: float | None) -> Theme:
    """Mermaid's dark theme on dark backgrounds, its default (light) theme on light ones."""
    return "default" if luma is not None and luma > LIGHT_BACKGROUND else "dark"


def background_luma(path: Path | str, samples: int = 3) -> float | None:
    """Mean luma (0..1) of a few frames spread over the clip; None when it cannot be decoded."""
    import av
    import numpy as np

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
            values = []
            for i in range(samples):
                if duration > 0 and stream.time_base:
                    container.seek(int(duration * i / samples / stream.time_base), stream=stream)
                frame = next(container.decode(stream), None)
                if frame is not None:
                    values.append(float(np.asarray(frame.to_ndarray(format="gray")).mean()) / 255.0)
    except (av.error.FFmpegError, OSError, IndexError, StopIteration):
        return None
    return sum(values) / len(values) if values else None


def panel(image: Image.Image, theme: Theme, width: int, max_height: int, pad: int = 28) -> Image.Image:
    """`image` scaled to fit inside a rounded panel at most `width` x `max_height`, with a soft shadow."""
    image = image.convert("RGBA")
    shadow = max(6, pad // 3)
    inner_w, inner_h = max(1, width - 2 * (pad + shadow)), max(1, max_height - 2 * (pad + shadow))
    scale = min(inner_w / image.width, inner_h / image.height, 2.0)
    drawn = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.LANCZOS)  # fmt: skip
    card_w, card_h = drawn.width + 2 * pad, drawn.height + 2 * pad
    out = Image.new("RGBA", (card_w + 2 * shadow, card_h + 2 * shadow), (0, 0, 0, 0))
    mask = Image.new("L", out.size, 0)
    box = (shadow, shadow, shadow + card_w - 1, shadow + card_h - 1)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=pad, fill=120)
    out.paste(Image.new("RGBA", out.size, (0, 0, 0, 255)), (0, 0), mask.filter(ImageFilter.GaussianBlur(shadow)))
    ImageDraw.Draw(out).rounded_rectangle(box, radius=pad, fill=PANELS[theme])
    out.alpha_composite(drawn, (shadow + pad, shadow + pad))
    return out
