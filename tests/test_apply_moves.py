"""scripts/dev/apply_moves.py: code written against the old services paths is rewritten to the new ones."""
# apply-moves: keep

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from textwrap import dedent

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("apply_moves", ROOT / "scripts" / "dev" / "apply_moves.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["apply_moves"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def moves(tool):
    return tool.Moves.load(ROOT / "scripts" / "dev" / "moves.txt")


def test_names_of_a_split_module_go_to_their_new_modules(tool, moves) -> None:
    old = dedent("""\
        from sma.services.captions import (
            CaptionService,
            Transcriber,
            build_ass,
            check_captions,
            fonts_dir,
        )
        from sma.services.tts import PiperEngine, VoiceService as Voices
    """)
    new = tool.rewrite_source(old, moves)
    assert new == dedent("""\
        from sma.services.captions.service import CaptionService
        from sma.services.speech.whisper import Transcriber
        from sma.services.captions.ass import build_ass
        from sma.services.qa.captions import check_captions
        from sma.services.captions.fonts import fonts_dir
        from sma.services.voice.engines.piper import PiperEngine
        from sma.services.voice.service import VoiceService as Voices
    """)


def test_module_imports_aliases_and_patch_strings_follow_the_move(tool, moves) -> None:
    old = dedent("""\
        import sma.services.caption_fonts as fonts
        from sma.services import notify
        from sma.services.media import music

        def test(monkeypatch):
            monkeypatch.setattr("sma.services.captions.Transcriber.words", None)
            with mock.patch("sma.services.music_sources.loops.LoopsSource"):
                pass
    """)
    new = tool.rewrite_source(old, moves)
    assert "import sma.services.captions.fonts as fonts" in new
    assert "from sma.services.notify import notifier as notify" in new
    assert "from sma.services.music import service as music" in new
    assert '"sma.services.speech.whisper.Transcriber.words"' in new
    assert '"sma.services.music.sources.loops.LoopsSource"' in new


def test_a_second_run_changes_nothing(tool, moves) -> None:
    old = dedent("""\
        from sma.services.captions import CaptionService, paginate
        from sma.services.notify import LogNotifier
        from sma.services import captions
        x = "sma.services.tts.build_engines"
    """)
    once = tool.rewrite_source(old, moves)
    assert once != old
    assert tool.rewrite_source(once, moves) == once


def test_modules_that_did_not_move_are_left_alone(tool, moves) -> None:
    source = dedent("""\
        from sma.services.voices.cli import tts_app
        from sma.services.qa_audio_cli import qa_audio_command
        from sma.services.media.render import RenderService
        log = structlog.get_logger("sma.tts")
    """)
    assert tool.rewrite_source(source, moves) == source


def test_no_code_imports_an_old_services_path(tool) -> None:
    """After a merge, code from another branch may still use old paths: run scripts/dev/apply_moves.py."""
    assert tool.main(["--check", *(str(ROOT / d) for d in ("sma", "tests", "bench", "scripts"))]) == 0
