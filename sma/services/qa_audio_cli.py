"""`sma qa audio PATH --script FILE [--json]`: run QA_TTS on any audio (or video) file by hand.

The same gate code as the voiceover step, with the same thresholds from `tts` and the same reverse
transcription, so a person can see why a take was refused, or check a voice made elsewhere.
Exit codes: 0 passed, 1 failed, 2 the input could not be read.
"""

from __future__ import annotations

import json
import tempfile
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sma.models.common import QAReport

if TYPE_CHECKING:
    from sma.settings import Settings

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


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
        from sma import cli

        settings = cli.settings()
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
