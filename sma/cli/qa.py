"""The QA gates by hand: `sma qa video PATH`, `sma qa audio PATH --script FILE`.

They run the same gate code as the pipeline, with the same thresholds, on any file, so a person can see
why a take or a render was refused, or check one made elsewhere. Exit status: 0 when every gate passes,
1 when a gate fails, 2 when the input cannot be used at all.
"""

from __future__ import annotations

import json
import tempfile
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sma.cli import common
from sma.models.common import QAReport

if TYPE_CHECKING:
    from sma.settings import Settings

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2

qa_app = typer.Typer(no_args_is_help=True, help="Run the QA gates on a file by hand.")

JsonFlag = Annotated[bool, typer.Option("--json", help="print the reports as JSON")]


def register(app: typer.Typer) -> None:
    """Add this command group to the `sma` app."""
    app.add_typer(qa_app, name="qa")


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
    from sma.services.qa.video import check_video

    if not path.is_file():
        common.fail(f"{path}: no such file")
    media = common.settings().media
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
    raise typer.Exit(qa_audio_command(path, script, as_json))


class InputError(ValueError):
    """The audio or the script cannot be used; the message says which and why."""


def read_script(script: Path) -> str:
    """The words the voice should say: a plain text file, or a Script JSON (its narration)."""
    if not script.is_file():
        raise InputError(f"script file not found: {script}")
    text = script.read_text(encoding="utf-8", errors="replace")
    if script.suffix.lower() == ".json":
        from pydantic import ValidationError

        from sma.models.pipeline import Script

        try:
            text = Script.model_validate_json(text).narration()
        except ValidationError as exc:
            raise InputError(f"{script}: not a Script JSON ({exc.error_count()} errors); pass a .txt instead") from None
    if not text.strip():
        raise InputError(f"script file is empty: {script}")
    return text.strip()


def _is_plain_wav(path: Path) -> bool:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() > 0
    except (wave.Error, EOFError):
        return False


def check_file(path: Path, text: str, settings: Settings) -> tuple[QAReport, str]:
    """QA_TTS on `path` (any format FFmpeg reads) against `text`; returns the report and the transcript."""
    from sma.services.qa.audio import check_voice
    from sma.services.speech.whisper import Transcriber
    from sma.services.voice.engines.audio import AudioDecodeError, decode_to_wav

    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="sma-qa-") as tmp:
        scratch, wav = Path(tmp) / "audio.wav", path
        if not _is_plain_wav(path):
            try:
                wav = decode_to_wav(path, scratch)
            except AudioDecodeError as exc:
                raise InputError(f"{path}: {exc}") from None
        transcript = " ".join(w.text for w in Transcriber(settings.captions).words(wav))
        tts = settings.tts
        report = check_voice(
            wav,
            text,
            transcript=transcript,
            max_wer=tts.max_wer,
            min_wpm=tts.min_wpm,
            max_wpm=tts.max_wpm,
            max_silence_s=tts.max_silence_s,
        )
    return report, transcript


def _print_human(path: Path, report: QAReport, transcript: str) -> None:
    status = "passed" if report.passed else "FAILED"
    color = typer.colors.GREEN if report.passed else typer.colors.RED
    typer.secho(f"{report.gate} {status} (score {report.score:.2f}): {path}", fg=color)
    for reason in report.reasons:
        typer.echo(f"  - {reason}")
    for name, value in report.metrics.items():
        typer.echo(f"  {name:<20} {value:g}")
    typer.echo(f"  heard: {transcript}")


def qa_audio_command(path: Path, script: Path, as_json: bool, settings: Settings | None = None) -> int:
    """Print the QA_TTS report for `path` against the script in `script`; return the exit code."""
    if settings is None:
        settings = common.settings()
    try:
        report, transcript = check_file(Path(path), read_script(Path(script)), settings)
    except InputError as exc:
        if as_json:
            typer.echo(json.dumps({"path": str(path), "error": str(exc)}))
        else:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return EXIT_UNUSABLE
    if as_json:
        payload = {
            "path": str(path),
            "passed": report.passed,
            "transcript": transcript,
            "reports": [report.model_dump(mode="json")],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_human(Path(path), report, transcript)
    return EXIT_PASSED if report.passed else EXIT_FAILED
