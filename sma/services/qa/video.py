"""QA_RENDER and QA_VISUAL: is the rendered file what the platforms expect, and does it look alive?

Why one decoding pass: decoding 1080x1920 H.264 dominates the cost, so black, freeze and loudness
detection share a single decode, downscaled before the detectors. The decoder also skips B-frames and
deblocking: stretches of a second or more are still seen through the I and P frames (a picture every
few frames), and the pass gets about four times faster. Container facts come from PyAV and the MP4 atom
layout for free.
"""

from __future__ import annotations

import itertools
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from sma.models.common import QAReport
from sma.services.media.ffmpeg import FFmpeg, FFmpegError, MediaInfo

DURATION_TOLERANCE_S = 0.5
FPS_TOLERANCE = 0.5
TARGET_LUFS = -14.0
LOUDNESS_TOLERANCE_LU = 2.0
BLACK_MIN_S = 1.0
FREEZE_MIN_S = 2.0
# Frozen means "mean absolute frame difference below 0.2 % of full scale" at 270x480. The procedural
# background drifts by four to eight times that within two seconds (measured), while a stalled frame
# differs by encoder noise only.
FREEZE_NOISE = 0.002
BLACK_PIXEL_TH = 0.055  # luma below ~Y 28 counts as black; the darkest palettes stay above it
ANALYSIS_SIZE = "270:480"
# Monotony: is there a new visual at least every MONOTONY_S seconds? Scenes are measured above the caption
# band only (karaoke captions change with every word and would count as scenes), on 4 pictures a second,
# by scdet's score (mean absolute difference, 0-100). A card arriving, leaving or replacing another scores
# 3-20 on our renders (measured); the procedural background's drift in 0.25 s scores well under 1.
MONOTONY_S = 6.0
SCENE_THRESHOLD = 2.0
SCENE_FPS = 4
SCENE_MERGE_S = 0.6  # changes closer than this are one transition (a fade split across two samples)
CAPTION_TOP = 0.52  # above the caption band of every layout (the union with the bold style: 0.527 of the height)


@dataclass
class Analysis:
    """What the one decoding pass found."""

    black: list[tuple[float, float]] = field(default_factory=list)
    frozen: list[tuple[float, float]] = field(default_factory=list)
    integrated_lufs: float | None = None
    scenes: list[float] = field(default_factory=list)
    error: str = ""


def check_video(
    ffmpeg: FFmpeg,
    path: Path,
    expected_duration_s: float,
    width: int = 1080,
    height: int = 1920,
    target_lufs: float = TARGET_LUFS,
    monotony_s: float = MONOTONY_S,
    strict_monotony: bool = False,
) -> list[QAReport]:
    """Both video gates for one file: [QA_RENDER, QA_VISUAL].

    A stretch longer than `monotony_s` without a new visual fails QA_VISUAL when `strict_monotony`
    (autonomous runs), else it is a warning on a passing report.
    """
    path = Path(path)
    try:
        info = ffmpeg.probe(path)
    except FFmpegError as exc:
        reason = f"cannot read the video: {str(exc).splitlines()[0]}"
        return [
            QAReport(gate="QA_RENDER", passed=False, score=0.0, reasons=[reason]),
            QAReport(gate="QA_VISUAL", passed=False, score=0.0, reasons=[reason]),
        ]
    analysis = analyse(ffmpeg, path, info)
    return [
        render_report(info, path, analysis, expected_duration_s, width, height, target_lufs),
        visual_report(info, analysis, monotony_s, strict_monotony),
    ]


# ---------------------------------------------------------------- the analysis pass


def analyse(ffmpeg: FFmpeg, path: Path, info: MediaInfo) -> Analysis:
    if not info.has_video and not info.has_audio:
        return Analysis(error="no audio or video stream")
    video = (
        f"scale={ANALYSIS_SIZE}:flags=fast_bilinear,"
        f"blackdetect=d={BLACK_MIN_S}:pix_th={BLACK_PIXEL_TH}:pic_th=0.98,"
        f"freezedetect=n={FREEZE_NOISE}:d={FREEZE_MIN_S},"
        f"crop=iw:trunc(ih*{CAPTION_TOP}/2)*2:0:0,fps={SCENE_FPS},scdet=threshold={SCENE_THRESHOLD}"
    )
    try:
        log = ffmpeg.analyse(
            path,
            video_filters=video if info.has_video else None,
            audio_filters="ebur128=framelog=quiet" if info.has_audio else None,
            input_args=["-skip_loop_filter", "all", "-skip_frame:v", "bidir"] if info.has_video else None,
            timeout=600,
        )
    except FFmpegError as exc:
        return Analysis(error=str(exc).splitlines()[0])
    return parse_analysis(log, info.duration_s)


_BLACK = re.compile(r"black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)")
_FREEZE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end):\s*([\d.]+)")
_INTEGRATED = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf)\s*LUFS", re.MULTILINE)
_SCENE = re.compile(r"lavfi\.scd\.time:\s*([\d.]+)")


def parse_analysis(log: str, duration_s: float) -> Analysis:
    """Black and frozen intervals and the integrated loudness, read from the filters' log lines."""
    result = Analysis(black=[(float(a), float(b)) for a, b in _BLACK.findall(log)])
    start: float | None = None
    for kind, value in _FREEZE.findall(log):
        if kind == "start":
            start = float(value)
        elif start is not None:
            result.frozen.append((start, float(value)))
            start = None
    if start is not None:  # frozen until the end of the file
        result.frozen.append((start, duration_s))
    for value in _SCENE.findall(log):
        t = float(value)
        if not result.scenes or t - result.scenes[-1] >= SCENE_MERGE_S:
            result.scenes.append(t)
    loudness = _INTEGRATED.findall(log)
    if loudness:
        result.integrated_lufs = -120.0 if loudness[-1] == "-inf" else float(loudness[-1])
    return result


# ---------------------------------------------------------------- QA_RENDER


def render_report(
    info: MediaInfo,
    path: Path,
    analysis: Analysis,
    expected_s: float,
    width: int,
    height: int,
    target_lufs: float = TARGET_LUFS,
) -> QAReport:
    checks = _render_checks(info, path, analysis, expected_s, width, height, target_lufs)
    reasons = [reason for ok, reason in checks if not ok]
    metrics = {
        "duration_s": round(info.duration_s, 3),
        "expected_duration_s": round(expected_s, 3),
        "audio_duration_s": round(info.audio_duration_s, 3),
        "width": float(info.width),
        "height": float(info.height),
        "fps": round(info.fps, 3),
        "faststart": float(is_faststart(path)),
    }
    if analysis.integrated_lufs is not None:
        metrics["integrated_lufs"] = analysis.integrated_lufs
    score = sum(ok for ok, _ in checks) / len(checks)
    return QAReport(
        gate="QA_RENDER", passed=not reasons, score=round(score, 3), threshold=1.0, reasons=reasons, metrics=metrics
    )


def _render_checks(
    info: MediaInfo,
    path: Path,
    analysis: Analysis,
    expected_s: float,
    width: int,
    height: int,
    target_lufs: float,
) -> list[tuple[bool, str]]:
    """(passed, reason-if-failed) for every property the platforms care about."""
    audio_gap = expected_s - info.audio_duration_s if info.has_audio and info.audio_duration_s else 0.0
    lufs = analysis.integrated_lufs
    return [
        (info.has_video and info.video_codec == "h264", f"video stream must be h264, got {info.video_codec or 'none'}"),
        (info.has_audio and info.audio_codec == "aac", f"audio stream must be aac, got {info.audio_codec or 'none'}"),
        ((info.width, info.height) == (width, height),
         f"resolution {info.width}x{info.height}, expected {width}x{height}"),
        (info.pix_fmt in ("yuv420p", "yuvj420p"), f"pixel format {info.pix_fmt}, expected yuv420p"),
        (abs(info.fps - 30.0) <= FPS_TOLERANCE, f"frame rate {info.fps:.2f}, expected 30"),
        (abs(info.duration_s - expected_s) <= DURATION_TOLERANCE_S,
         f"duration {info.duration_s:.2f}s, expected {expected_s:.2f}s (±{DURATION_TOLERANCE_S}s)"),
        (audio_gap <= DURATION_TOLERANCE_S,
         f"audio ends at {info.audio_duration_s:.2f}s, expected {expected_s:.2f}s: audio is truncated"),
        (is_faststart(path), "moov atom is after mdat (not faststart): players must download it all first"),
        (lufs is not None and abs(lufs - target_lufs) <= LOUDNESS_TOLERANCE_LU,
         f"integrated loudness {_fmt_lufs(lufs)}, expected {target_lufs:.0f} ±{LOUDNESS_TOLERANCE_LU:.0f} LUFS"
         + (f" ({analysis.error})" if analysis.error else "")),
    ]  # fmt: skip


def _fmt_lufs(value: float | None) -> str:
    return "unmeasured" if value is None else f"{value:.1f} LUFS"


def top_level_atoms(path: Path) -> list[str]:
    """Types of the top-level MP4 boxes, in file order (reads headers only)."""
    atoms: list[str] = []
    size_total = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset + 8 <= size_total:
            fh.seek(offset)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
            elif size == 0:
                size = size_total - offset
            if size < 8:
                break
            atoms.append(kind.decode("latin-1"))
            offset += size
    return atoms


def is_faststart(path: Path) -> bool:
    atoms = top_level_atoms(path)
    return "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")


# ---------------------------------------------------------------- QA_VISUAL


def longest_static(scenes: list[float], duration_s: float) -> tuple[float, float]:
    """The longest stretch (start, end) with no new visual, from the scene changes and the file's length."""
    marks = [0.0, *(t for t in scenes if 0.0 < t < duration_s), duration_s]
    return max(itertools.pairwise(marks), key=lambda ab: ab[1] - ab[0], default=(0.0, duration_s))


def visual_report(
    info: MediaInfo, analysis: Analysis, monotony_s: float = MONOTONY_S, strict_monotony: bool = False
) -> QAReport:
    reasons: list[str] = []
    if not info.has_video:
        reasons.append("no video stream")
    if analysis.error:
        reasons.append(f"analysis failed: {analysis.error}")
    black_s = sum(b - a for a, b in analysis.black)
    frozen_s = sum(b - a for a, b in analysis.frozen)
    reasons += [f"black from {a:.2f}s to {b:.2f}s ({b - a:.2f}s)" for a, b in analysis.black]
    reasons += [f"frozen from {a:.2f}s to {b:.2f}s ({b - a:.2f}s)" for a, b in analysis.frozen]
    duration = max(info.duration_s, 1e-6)
    score = 0.0 if not info.has_video or analysis.error else max(0.0, 1.0 - (black_s + frozen_s) / duration)
    warnings: list[str] = []
    static = longest_static(analysis.scenes, info.duration_s)
    if info.has_video and not analysis.error and static[1] - static[0] > monotony_s:
        monotony = (f"no new visual from {static[0]:.1f}s to {static[1]:.1f}s ({static[1] - static[0]:.1f}s, "
                    f"limit {monotony_s:g}s): give each beat a visual or split long beats")  # fmt: skip
        if strict_monotony:
            reasons.append(monotony)
        else:
            warnings.append(f"warning: {monotony}")
    return QAReport(
        gate="QA_VISUAL", passed=not reasons, score=round(score, 3), threshold=1.0, reasons=reasons + warnings,
        metrics={"black_s": round(black_s, 3), "frozen_s": round(frozen_s, 3),
                 "black_stretches": float(len(analysis.black)), "frozen_stretches": float(len(analysis.frozen)),
                 "scene_changes": float(len(analysis.scenes)),
                 "longest_static_s": round(static[1] - static[0], 3)},
    )  # fmt: skip
