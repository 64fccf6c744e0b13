"""Commands of the media engine (issue 3): `sma qa video PATH`, `sma qa audio PATH --script FILE`.

They run the same gate code as the pipeline on any file, so a person can check a video by hand. Exit
status: 0 when every gate passes, 1 when a gate fails, 2 when the input cannot be used at all.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from sma.models.common import QAReport

qa_app = typer.Typer(no_args_is_help=True, help="Run the QA gates on a file by hand.")

JsonFlag = Annotated[bool, typer.Option("--json", help="print the reports as JSON")]


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
    app.add_typer(qa_app, name="qa")
    from sma.services.voices.cli import tts_app  # `sma tts usage` (plans/003c-tts-usage.md)

    app.add_typer(tts_app, name="tts")


def _settings() -> Any:
    from sma.cli import settings

    return settings()


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def emit(path: Path, reports: list[QAReport], as_json: bool) -> int:
    """Print the reports (text or JSON) and return the exit status: 0 all passed, 1 otherwise."""
    passed = all(r.passed for r in reports)
    if as_json:
        payload = {"path": str(path), "passed": passed, "reports": [r.model_dump(mode="json") for r in reports]}
        typer.echo(json.dumps(payload, indent=2))
    else:
        for report in reports:
            verdict = "pass" if report.passed else "FAIL"
            colour = typer.colors.GREEN if report.passed else typer.colors.RED
            typer.secho(f"{report.gate:<12} {verdict}  score {report.score:.3f}", fg=colour)
            for reason in report.reasons:
                typer.echo(f"  - {reason}")
            metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(report.metrics.items()))
            if metrics:
                typer.echo(f"  {metrics}")
    return 0 if passed else 1


@qa_app.command("video")
def qa_video(
    path: Annotated[Path, typer.Argument(help="video file to check")],
    as_json: JsonFlag = False,
    expected_duration: Annotated[float | None, typer.Option(
        "--expected-duration", help="seconds it should last, e.g. voiceover + 0.6; default: its own length")] = None,
    width: Annotated[int | None, typer.Option(help="expected width; default media.width")] = None,
    height: Annotated[int | None, typer.Option(help="expected height; default media.height")] = None,
    target_lufs: Annotated[float | None, typer.Option("--target-lufs", help="default media.target_lufs")] = None,
) -> None:
    """QA_RENDER and QA_VISUAL: streams, size, duration, faststart, loudness, black and frozen stretches."""
    from sma.services.media.ffmpeg import FFmpeg, FFmpegError
    from sma.services.qa_video import check_video

    if not path.is_file():
        _fail(f"{path}: no such file")
    media = _settings().media
    ffmpeg = FFmpeg(media.ffmpeg, threads=media.threads)
    expected = expected_duration
    if expected is None:
        try:
            expected = ffmpeg.probe(path).duration_s
        except FFmpegError:
            expected = 0.0  # unreadable: the gates say so
    reports = check_video(ffmpeg, path, expected, width or media.width, height or media.height,
                          target_lufs=media.target_lufs if target_lufs is None else target_lufs)  # fmt: skip
    raise typer.Exit(emit(path, reports, as_json))


@qa_app.command("audio")
def qa_audio(
    path: Annotated[Path, typer.Argument(help="voiceover audio (WAV, or anything ffmpeg reads)")],
    script: Annotated[Path, typer.Option("--script", help="text file with the words the voice should say")],
    as_json: JsonFlag = False,
) -> None:
    """QA_TTS: reverse transcription (word error rate), speaking rate, clipping, long silences."""
    command = _shared_audio_command()
    code = command(path, script, as_json) if command is not None else qa_audio_command(path, script, as_json)
    raise typer.Exit(code)


def _shared_audio_command() -> Callable[[Path, Path, bool], int] | None:
    """The voice capability's own implementation, when it ships one (sma/services/qa_audio_cli.py)."""
    try:
        from sma.services import qa_audio_cli
    except ImportError:
        return None
    return getattr(qa_audio_cli, "qa_audio_command", None)


def qa_audio_command(path: Path, script: Path, as_json: bool) -> int:
    """Minimal QA_TTS by hand: transcribe with the configured Whisper model, then `check_voice`."""
    from sma.services.captions import Transcriber
    from sma.services.media.ffmpeg import FFmpeg, FFmpegError
    from sma.services.qa_audio import check_voice

    if not path.is_file():
        _fail(f"{path}: no such file")
    if not script.is_file():
        _fail(f"{script}: no such script file")
    text = script.read_text(encoding="utf-8").strip()
    if not text:
        _fail(f"{script}: the script is empty")
    loaded = _settings()
    with tempfile.TemporaryDirectory(prefix="sma-qa-") as tmp:
        wav = path
        if path.suffix.lower() != ".wav":
            wav = Path(tmp) / "voice.wav"
            try:
                FFmpeg(loaded.media.ffmpeg).run(["-loglevel", "error", "-i", str(path), "-vn", "-ac", "1",
                                                 "-ar", "22050", "-c:a", "pcm_s16le", str(wav)])  # fmt: skip
            except FFmpegError as exc:
                _fail(f"{path}: cannot read the audio: {str(exc).splitlines()[0]}")
        try:
            words = Transcriber(loaded.captions).words(wav)
            report = check_voice(wav, text, " ".join(w.text for w in words), max_wer=loaded.tts.max_wer)
        except (ValueError, OSError) as exc:
            _fail(f"{path}: cannot check the audio: {exc}")
            raise
    return emit(path, [report], as_json)
