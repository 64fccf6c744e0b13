"""The one place that starts ffmpeg: progress, error tails, clean kills, probing and analysis passes.

Every media step is a single ffmpeg process; this wrapper makes that process safe to run inside a
Temporal activity thread. Progress is read from `-progress pipe:1` and reported on the *calling* thread
(activity heartbeats only work there), and the child is killed and reaped whenever the caller leaves
early (an exception, a Temporal cancellation raised into the thread, a timeout), so no ffmpeg outlives
the work it was started for.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

STDERR_TAIL = 20
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.25


class FFmpegError(RuntimeError):
    """ffmpeg failed; the message carries the last lines of its stderr so the cause is visible."""

    def __init__(self, message: str, returncode: int | None = None, stderr_tail: str = "") -> None:
        super().__init__(f"{message}\n{stderr_tail}" if stderr_tail else message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class MediaInfo(BaseModel):
    """What the QA gates and the renderer need to know about a media file."""

    duration_s: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    pix_fmt: str = ""
    audio_sample_rate: int = 0
    audio_channels: int = 0
    video_duration_s: float = 0.0
    audio_duration_s: float = 0.0
    has_video: bool = False
    has_audio: bool = False
    format_name: str = ""


def _default_binary() -> str:
    import imageio_ffmpeg

    binary: str = imageio_ffmpeg.get_ffmpeg_exe()
    return binary


class FFmpeg:
    """A configured ffmpeg binary; cheap to share between threads (the encoder cache is locked)."""

    def __init__(self, path: str | None = None, threads: int = 0) -> None:
        self.binary = path or _default_binary()
        self.threads = threads
        self._encoders: set[str] | None = None
        self._usable: dict[str, bool] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ running

    def run(
        self,
        args: list[str],
        duration_s: float | None = None,
        on_progress: Callable[[float], None] | None = None,
        timeout: float | None = None,
        feed: Iterable[bytes] | None = None,
    ) -> None:
        """Run `ffmpeg <args>`; raise FFmpegError with the stderr tail when it fails.

        `feed` streams bytes to ffmpeg's stdin (for `-i pipe:0`), so generated frames never touch disk.
        """
        self._execute(args, duration_s, on_progress, timeout, feed, keep_all=False)

    def _execute(
        self,
        args: list[str],
        duration_s: float | None,
        on_progress: Callable[[float], None] | None,
        timeout: float | None,
        feed: Iterable[bytes] | None,
        keep_all: bool,
    ) -> list[str]:
        cmd = [self.binary, "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", *args]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
        )
        stderr: deque[str] | list[str] = [] if keep_all else deque(maxlen=STDERR_TAIL)
        fractions: queue.SimpleQueue[float] = queue.SimpleQueue()
        readers = [
            threading.Thread(target=_read_progress, args=(proc.stdout, duration_s, fractions), daemon=True),
            threading.Thread(target=_read_lines, args=(proc.stderr, stderr), daemon=True),
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + timeout if timeout else None
        try:
            if feed is not None:
                _feed(proc, feed, fractions, on_progress, deadline)
            while proc.poll() is None or readers[0].is_alive() or not fractions.empty():
                _check_deadline(deadline)
                try:
                    fraction = fractions.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if on_progress is not None:
                    on_progress(fraction)
        finally:
            _reap(proc, readers)
        if proc.returncode != 0:
            tail = "\n".join(list(stderr)[-STDERR_TAIL:])
            raise FFmpegError(f"ffmpeg exited with status {proc.returncode}", proc.returncode, tail)
        return list(stderr)

    def analyse(
        self,
        path: Path | str,
        video_filters: str | None = None,
        audio_filters: str | None = None,
        input_args: list[str] | None = None,
        timeout: float | None = None,
    ) -> str:
        """Decode `path` once through the given filters into a null sink; return the whole stderr.

        Detection filters (blackdetect, freezedetect, ebur128) report on stderr, so callers parse it.
        """
        args = [*(input_args or []), "-i", str(path)]
        args += ["-vf", video_filters] if video_filters else ["-vn"]
        args += ["-af", audio_filters] if audio_filters else ["-an"]
        return self.capture([*args, "-f", "null", "-"], timeout=timeout)

    def capture(self, args: list[str], timeout: float | None = None) -> str:
        """Run at `info` log level and return all of stderr, for passes whose result is a log line."""
        return "\n".join(self._execute(["-loglevel", "info", *args], None, None, timeout, None, keep_all=True))

    # ------------------------------------------------------------ capabilities

    def encoders(self) -> set[str]:
        """Names from `ffmpeg -encoders`, read once."""
        with self._lock:
            if self._encoders is None:
                out = subprocess.run(
                    [self.binary, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
                ).stdout
                self._encoders = _parse_encoders(out)
            return self._encoders

    def has_encoder(self, name: str) -> bool:
        """Whether `name` is listed and, for hardware encoders, actually opens on this machine."""
        if name not in self.encoders():
            return False
        with self._lock:
            if name not in self._usable:
                self._usable[name] = self._try_encode(name) if _is_hardware(name) else True
            return self._usable[name]

    def _try_encode(self, name: str) -> bool:
        # The static build lists NVENC even with no GPU or driver; only a real encode tells.
        cmd = [
            self.binary,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=black:size=256x256:rate=30",
            "-frames:v",
            "1",
            "-c:v",
            name,
            "-f",
            "null",
            "-",
        ]
        try:
            return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    # ------------------------------------------------------------ probing

    def probe(self, path: Path | str) -> MediaInfo:
        """Stream facts read with PyAV (the bundled ffmpeg ships without ffprobe)."""
        return probe(path)


def probe(path: Path | str) -> MediaInfo:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise FFmpegError(f"cannot open {path}: {exc}") from exc
    with container:
        info = MediaInfo(format_name=container.format.name or "")
        if container.duration is not None:
            info.duration_s = container.duration / 1_000_000
        if container.streams.video:
            _fill_video(info, container.streams.video[0])
        if container.streams.audio:
            _fill_audio(info, container.streams.audio[0])
    if not info.duration_s:
        info.duration_s = max(info.video_duration_s, info.audio_duration_s)
    return info


def _stream_seconds(stream: Any) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def _fill_video(info: MediaInfo, stream: Any) -> None:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    info.has_video = True
    info.video_codec = ctx.name or ""
    info.width, info.height = ctx.width, ctx.height
    info.pix_fmt = ctx.format.name if ctx.format is not None else ""
    info.fps = float(Fraction(rate)) if rate else 0.0
    info.video_duration_s = _stream_seconds(stream)


def _fill_audio(info: MediaInfo, stream: Any) -> None:
    ctx = stream.codec_context
    info.has_audio = True
    info.audio_codec = ctx.name or ""
    info.audio_sample_rate = ctx.sample_rate or 0
    info.audio_channels = ctx.channels if hasattr(ctx, "channels") else ctx.layout.nb_channels
    info.audio_duration_s = _stream_seconds(stream)


# ---------------------------------------------------------------- process plumbing


def _read_progress(stream: IO[bytes], duration_s: float | None, out: queue.SimpleQueue[float]) -> None:
    """Turn `-progress` key=value lines into fractions; 1.0 on `progress=end`."""
    for raw in iter(stream.readline, b""):
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and duration_s and value.lstrip("-").isdigit():
            out.put(min(1.0, max(0.0, int(value) / 1_000_000 / duration_s)))
        elif key == "progress" and value == "end":
            out.put(1.0)
    stream.close()


def _read_lines(stream: IO[bytes], sink: deque[str] | list[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode(errors="replace").rstrip())
    stream.close()


def _feed(
    proc: subprocess.Popen[bytes],
    chunks: Iterable[bytes],
    fractions: queue.SimpleQueue[float],
    on_progress: Callable[[float], None] | None,
    deadline: float | None,
) -> None:
    """Write generated input to stdin; progress is relayed between chunks, on this thread."""
    assert proc.stdin is not None
    try:
        for chunk in chunks:
            _check_deadline(deadline)
            proc.stdin.write(chunk)
            while on_progress is not None and not fractions.empty():
                on_progress(fractions.get_nowait())
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its exit status and stderr tell why
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.close()


def _die_with_parent() -> Callable[[], None] | None:
    """A child hook that makes Linux kill ffmpeg when the worker dies (even by SIGKILL).

    ffmpeg ignores SIGPIPE, so an orphan would encode to the end; `_reap` covers every exit the worker
    lives through, this covers the ones it does not. libc is resolved here, in the parent, so the child
    only makes one system call between fork and exec. The signal follows the thread that started the
    child, which is the one that waits for it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise FFmpegError("ffmpeg timed out")


def _reap(proc: subprocess.Popen[bytes], readers: list[threading.Thread]) -> None:
    """Kill the child if it is still running, then wait for it, so it never lingers or turns zombie."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _parse_encoders(text: str) -> set[str]:
    names: set[str] = set()
    started = False
    for line in text.splitlines():
        if line.strip().startswith("------"):
            started = True
            continue
        parts = line.split()
        if started and len(parts) >= 2 and len(parts[0]) == 6:
            names.add(parts[1])
    return names


def _is_hardware(name: str) -> bool:
    return any(tag in name for tag in ("nvenc", "qsv", "vaapi", "amf", "v4l2m2m", "vulkan", "videotoolbox"))
