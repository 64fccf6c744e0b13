"""Captions (step 5): Whisper word timestamps, aligned back onto the script, rendered as ASS karaoke.

Whisper supplies timing, the script supplies spelling: the viewer reads what the writer wrote (names,
numbers, brand spellings), highlighted word by word at the moment it is spoken. QA_CAPTIONS checks that
the captions cover the voiced audio, line up with it, stay readable and fit the safe zone. A project
language no configured Whisper model hears gets the script's words timed over the voice instead
(captions.timing), and a font chosen by glyph coverage (captions.fonts); Whisper itself is speech.whisper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sma.models.language import primary_language
from sma.models.pipeline import CaptionRequest, CaptionResult
from sma.services.artifacts import ArtifactStore
from sma.services.captions.align import align, snap_to_voice, tokenize_script
from sma.services.captions.ass import build_ass
from sma.services.captions.fonts import FONT_FILE, CaptionFont, caption_font, caption_font_file, fonts_dir
from sma.services.captions.timing import TIER as SCRIPT_TIER
from sma.services.captions.timing import script_timings
from sma.services.media.look import caption_look, look_with_font
from sma.services.qa.audio import voiced_spans, wav_duration
from sma.services.qa.captions import SAFE_WIDTH, check_captions
from sma.services.speech.whisper import CachedTranscriber, Transcriber
from sma.services.step_cache import StepCache
from sma.settings import CaptionSettings, MediaSettings

STEP = "captions"
CACHE_VERSION = "1"


class CaptionService:
    """Transcribe, align to the script, write ASS + words JSON, gate; repeats come from the store."""

    def __init__(
        self,
        store: ArtifactStore,
        transcriber: Transcriber | CachedTranscriber,
        settings: CaptionSettings,
        media: MediaSettings,
        languages: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.results = StepCache(store, CaptionResult, STEP, CACHE_VERSION, primary=lambda r: r.ass,
                                 extras=lambda r: [r.words])
        self.transcriber = transcriber
        self.settings = settings
        self.media = media
        # Project id -> its BCP-47 language (Settings.project_language); English when not given.
        self.languages = languages or (lambda _project: "en")

    def _tier(self, language: str) -> str:
        if language == "en":
            return self.transcriber.tier
        return self.transcriber.tier_for(language) if self.transcriber.supports(language) else SCRIPT_TIER

    def font(self, text: str, language: str = "en") -> CaptionFont:
        preferred = Path(self.media.font_file) if self.media.font_file else None
        return caption_font(text, preferred, fonts_dir() / FONT_FILE, language)

    def cache_key(self, req: CaptionRequest) -> str:
        language = self.languages(req.project_id)
        payload: dict[str, Any] = {
            "request": req.model_dump(mode="json"),
            "tier": self._tier(language),
            "size": [self.media.width, self.media.height, self.media.caption_font_size],
            "look": repr(caption_look(self.media, req.project_id)),
            "font": str(caption_font_file(self.media)),
            "min_coverage": self.settings.min_coverage,
        }
        if self.media.look_for(req.project_id).captions.font:  # an installed font found later writes anew
            payload["font_found"] = str(look_with_font(self.media, req.project_id)[1].file)
        if language != "en":  # English keys stay as they were, so stored English captions are still found
            payload["language"] = language
            payload["font"] = str(self.font(req.script_text, language).file)
        return self.results.key(payload)

    def captions(self, req: CaptionRequest) -> CaptionResult:
        started = time.perf_counter()
        key = self.cache_key(req)
        cached = self.results.get(key)
        if cached is not None:
            return cached.model_copy(
                update={"seconds": round(time.perf_counter() - started, 3), "notes": ["reused from store"]}
            )
        wav = Path(req.audio.path)
        language = self.languages(req.project_id)
        voiced = voiced_spans(wav)
        matched: float | None
        if language == "en" or self.transcriber.supports(language):
            recognized = self.transcriber.words(wav) if language == "en" else self.transcriber.words(wav, language)
            aligned = align(req.script_text, recognized, duration=wav_duration(wav))
            words = snap_to_voice(aligned.words, voiced)
            matched = aligned.matched / len(words) if words else 0.0
            notes = [f"recognized {len(recognized)} words; {aligned.matched}/{len(words)} script words matched"]
        else:
            # No recogniser hears this language: time the script's words over the voice instead.
            timed = script_timings(tokenize_script(req.script_text), voiced, wav_duration(wav))
            words, matched = snap_to_voice(timed, voiced), None
            notes = [f"captions: {SCRIPT_TIER} (no {language} recogniser; set captions.language_models."
                     f"{primary_language(language)} to a multilingual Whisper model)"]
        look, found, font_reason = look_with_font(self.media, req.project_id)
        if font_reason:
            notes.append(f"caption {font_reason}")
        if language == "en":
            font_file = found.file
        else:  # a font that covers the script, whatever the look names
            font = self.font(req.script_text, language)
            look, font_file = replace(look, font=font.family), font.file
            notes += [f"caption font: {font.family}", *font.notes]
        ass = build_ass(words, self.media.width, self.media.height, look.font, look.font_size, look=look)
        ass_ref = self.store.put_bytes(ass.encode("utf-8"), ".ass", kind="captions")
        words_ref = self.store.put_json([w.model_dump() for w in words], kind="words")
        qa = check_captions(
            words,
            voiced,
            font_file=font_file,
            min_coverage=self.settings.min_coverage,
            font_size=look.font_size,
            max_line_chars=look.max_line_chars,
            max_words=look.words_per_line,
            active_scale=1.0 + look.active_scale_extra,
            safe_width_px=self.media.width * SAFE_WIDTH,
            matched_fraction=matched,
            text=None if language == "en" else req.script_text,
        )
        result = CaptionResult(
            tier=self._tier(language),
            seconds=round(time.perf_counter() - started, 3),
            notes=notes,
            ass=ass_ref,
            words=words_ref,
            word_count=len(words),
            qa=qa,
        )
        self.results.put(key, result)
        return result
