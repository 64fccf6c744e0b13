"""`sma qa audio`: the QA_TTS gate on any file by hand, with real Piper takes and real Whisper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sma.cli.qa import EXIT_FAILED, EXIT_PASSED, EXIT_UNUSABLE, qa_audio_command, read_script
from sma.models.pipeline import Beat, Script
from sma.settings import Settings, TTSSettings
from tests.test_tts_fakes import OTHER_WORDS, SCRIPT, encode, piper_wav


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The default thresholds: with the WER normaliser (text_normalize), 12 Piper takes of SCRIPT scored 0-0.071.
    return Settings(data_dir=tmp_path / "data", tts=TTSSettings())


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.txt"
    path.write_text(SCRIPT + "\n")
    return path


def test_a_good_take_passes_with_exit_0(
    tmp_path: Path, script: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    take = tmp_path / "take.wav"
    take.write_bytes(piper_wav(SCRIPT))
    assert qa_audio_command(take, script, as_json=True, settings=settings) == EXIT_PASSED
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["path"] == str(take)
    (report,) = out["reports"]
    assert report["gate"] == "QA_TTS" and report["metrics"]["wer"] <= 0.25
    assert "function" in out["transcript"].lower()
    assert not (settings.data_dir / "artifacts").exists()  # a hand check leaves nothing behind


def test_other_words_fail_with_the_wer_reason(
    tmp_path: Path, script: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    take = tmp_path / "wrong.wav"
    take.write_bytes(piper_wav(OTHER_WORDS))
    assert qa_audio_command(take, script, as_json=False, settings=settings) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "QA_TTS FAILED" in out
    assert "reverse transcription word error rate" in out and "above 0.250" in out
    assert "heard: " in out and "rainy" in out.lower()


def test_compressed_audio_is_decoded_first(
    tmp_path: Path, script: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    take = tmp_path / "take.mp3"
    take.write_bytes(encode(piper_wav(SCRIPT), "mp3"))
    assert qa_audio_command(take, script, as_json=True, settings=settings) == EXIT_PASSED
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_unusable_input_exits_2(
    tmp_path: Path, script: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qa_audio_command(tmp_path / "missing.wav", script, as_json=False, settings=settings) == EXIT_UNUSABLE
    assert "audio file not found" in capsys.readouterr().err

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"definitely not audio")
    assert qa_audio_command(garbage, script, as_json=True, settings=settings) == EXIT_UNUSABLE
    assert "error" in json.loads(capsys.readouterr().out)

    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    take = tmp_path / "take.wav"
    take.write_bytes(piper_wav(SCRIPT))
    assert qa_audio_command(take, empty, as_json=False, settings=settings) == EXIT_UNUSABLE
    assert "script file is empty" in capsys.readouterr().err


def test_a_script_json_is_read_as_its_narration(tmp_path: Path) -> None:
    script = Script(
        title="t",
        hook="Readable code saves time.",
        beats=[Beat(narration="Clear names explain a function.")],
        cta="Follow.",
        hook_style="how_to",
    )
    path = tmp_path / "script.json"
    path.write_text(script.model_dump_json())
    assert read_script(path) == "Readable code saves time. Clear names explain a function. Follow."
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": 3}')
    with pytest.raises(ValueError, match="not a Script JSON"):
        read_script(bad)
