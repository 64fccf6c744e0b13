"""`sma qa video` and `sma qa audio`: the pipeline's gate code on any file, exit status and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sma.cli import app
from sma.cli import qa as media_cli
from sma.services.media.ffmpeg import FFmpeg
from sma.services.voice.engines.piper import PiperEngine

runner = CliRunner()
SCRIPT = "Short videos win when every second earns the next one."


def _env(tmp_path: Path) -> dict[str, str]:
    return {"SMA_DATA_DIR": str(tmp_path / "data")}


def _clip(tmp_path: Path, name: str, video_filter: str = "null", audio_s: float = 4.0) -> Path:
    out = tmp_path / name
    FFmpeg().run([
        "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=270x480:r=30:d=4",
        "-f", "lavfi", "-i", f"sine=f=440:d={audio_s}:sample_rate=48000",
        "-filter_complex", f"[0:v]{video_filter}[v];[1:a]volume=8dB[a]", "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
        "-movflags", "+faststart", str(out),
    ])  # fmt: skip
    return out


def _qa_video(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["qa", "video", *args, "--width", "270", "--height", "480"], env=_env(tmp_path))
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_good_video_exits_zero_with_json(tmp_path: Path) -> None:
    code, output = _qa_video(tmp_path, str(_clip(tmp_path, "good.mp4")), "--json")
    assert code == 0, output
    payload = json.loads(output)
    assert payload["passed"] is True and [r["gate"] for r in payload["reports"]] == ["QA_RENDER", "QA_VISUAL"]
    assert payload["reports"][0]["metrics"]["width"] == 270


def test_failing_gates_exit_one_with_reasons(tmp_path: Path) -> None:
    black = _clip(tmp_path, "black.mp4", "drawbox=color=black:t=fill:enable='between(t,1,3)'")
    code, output = _qa_video(tmp_path, str(black))
    assert code == 1
    assert "QA_VISUAL    FAIL" in output and "black from 1.0" in output and "QA_RENDER    pass" in output
    code, output = _qa_video(tmp_path, str(_clip(tmp_path, "short_audio.mp4", audio_s=2.0)), "--json")
    payload = json.loads(output)
    assert code == 1 and payload["passed"] is False
    assert any("audio is truncated" in r for r in payload["reports"][0]["reasons"])
    code, output = _qa_video(tmp_path, str(_clip(tmp_path, "ok.mp4")), "--expected-duration", "9")
    assert code == 1 and "expected 9.00s" in output


def test_unusable_input_exits_two_or_fails_cleanly(tmp_path: Path) -> None:
    code, output = _qa_video(tmp_path, str(tmp_path / "missing.mp4"))
    assert code == 2 and "no such file" in output
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    code, output = _qa_video(tmp_path, str(junk), "--json")
    assert code == 1 and "cannot read the video" in output


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wav = tmp_path_factory.mktemp("voice") / "voice.wav"
    PiperEngine().synthesize(SCRIPT, wav)
    return wav


def test_qa_audio_passes_the_right_script_and_fails_the_wrong_one(tmp_path: Path, voice: Path) -> None:
    right, wrong = tmp_path / "right.txt", tmp_path / "wrong.txt"
    right.write_text(SCRIPT)
    wrong.write_text("Databases store rows in pages and an index makes lookups fast for every query.")
    ok = runner.invoke(app, ["qa", "audio", str(voice), "--script", str(right), "--json"], env=_env(tmp_path))
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)["reports"][0]  # logs go to stderr; stdout is only the JSON
    assert report["gate"] == "QA_TTS" and report["passed"] and report["metrics"]["wer"] <= 0.15
    bad = runner.invoke(app, ["qa", "audio", str(voice), "--script", str(wrong)], env=_env(tmp_path))
    assert bad.exit_code == 1 and "word error rate" in bad.output
    missing = runner.invoke(app, ["qa", "audio", str(voice), "--script", str(tmp_path / "none.txt")],
                            env=_env(tmp_path))  # fmt: skip
    assert missing.exit_code == 2


def test_minimal_audio_command_reads_non_wav(tmp_path: Path, voice: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in fallback (used when the voice capability ships no command of its own) takes any audio."""
    monkeypatch.setenv("SMA_DATA_DIR", str(tmp_path / "data"))
    m4a = tmp_path / "voice.m4a"
    FFmpeg().run(["-loglevel", "error", "-i", str(voice), "-c:a", "aac", str(m4a)])
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT)
    assert media_cli.qa_audio_command(m4a, script, as_json=True) == 0
