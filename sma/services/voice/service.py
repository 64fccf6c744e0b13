"""Voiceover (step 4): a chain of TTS engines, each gated by QA_TTS, with Piper as the offline floor
(then espeak-ng for a project language no installed Piper voice speaks).

Engines are tried in the configured order; one that is not usable here (no API key, no GPU, not in this
build) is skipped with its reason, one that raises or produces audio that fails the gate hands over to the
next. Every attempt is recorded in the result so the bot and dashboard can say why a tier was used, and
every synthesis is a row in tts_calls (characters, seconds, cost; voice/usage.py), which
also keeps a priced engine under the project's daily TTS budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from sma import metrics
from sma.models.common import ArtifactRef, QAReport, Word
from sma.models.language import primary_language
from sma.models.pipeline import EngineAttempt, VoiceRequest, VoiceResult
from sma.models.voice_usage import TTSCallRecord, TTSOutcome
from sma.services.artifacts import ArtifactStore
from sma.services.qa.audio import check_voice, wav_duration
from sma.services.step_cache import StepCache
from sma.services.voice.chain import ProjectChains, TTSEngine
from sma.services.voice.usage import TTSUsageRecorder, TTSUsageStore, cost_usd, engine_model, hold_budget
from sma.settings import TTSSettings

if TYPE_CHECKING:
    from sma.settings import Settings

log = structlog.get_logger("sma.tts")

STEP = "voiceover"
CACHE_VERSION = "2"


class WordRecognizer(Protocol):
    """What reverse-transcription QA needs from a speech recognizer (speech.whisper.Transcriber fits)."""

    def words(self, wav: Path, language: str = "en") -> list[Word]: ...


def recognises(transcriber: WordRecognizer, language: str) -> bool:
    """Whether a recogniser can hear `language`: its own `supports` when it has one, else English only."""
    supports = getattr(transcriber, "supports", None)
    return bool(supports(language)) if callable(supports) else primary_language(language) == "en"


class VoiceChainError(Exception):
    """No engine in the chain produced audio that passed QA_TTS; the message lists every attempt."""

    def __init__(self, attempts: list[EngineAttempt]) -> None:
        self.attempts = attempts
        tried = "; ".join(f"{a.engine}: {a.outcome} ({a.reason})" for a in attempts) or "no engines"
        super().__init__(f"no TTS engine produced usable audio: {tried}")


# ---------------------------------------------------------------- the service


def _duration_or_zero(wav: Path) -> float:
    """The take's length for the usage row; a file that is not a readable WAV counts as no audio."""
    try:
        return round(wav_duration(wav), 3)
    except Exception:
        return 0.0


def _better(a: QAReport, b: QAReport) -> bool:
    """The lower word error rate first (saying the script matters most), then fewer failed checks."""
    return (a.metrics.get("wer", 0.0), len(a.reasons)) < (b.metrics.get("wer", 0.0), len(b.reasons))


class VoiceService:
    """Runs the chain for one request; a repeat of the same request is served from the store."""

    def __init__(
        self,
        store: ArtifactStore,
        engines: list[TTSEngine] | Callable[[str], list[TTSEngine]],
        settings: TTSSettings,
        transcriber: WordRecognizer | None = None,
        usage: TTSUsageRecorder | None = None,
        languages: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.results = StepCache(store, VoiceResult, STEP, CACHE_VERSION, primary=lambda r: r.audio)
        # Project id -> its BCP-47 language (Settings.project_language); English when not given.
        self.languages = languages or (lambda _project: "en")
        # One chain for every project, or a function giving each project its own (ProjectChains).
        self.engines = engines
        self.settings = settings
        # Reverse transcription adds the word error rate to QA_TTS. Pass a captions.CachedTranscriber so
        # the captions step reuses the recognized words instead of running Whisper a second time.
        self.transcriber = transcriber
        # Where each synthesis is recorded (and the daily budget read); None records nothing.
        self.usage = usage

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: ArtifactStore,
        transcriber: WordRecognizer | None = None,
        usage: TTSUsageRecorder | None = None,
    ) -> VoiceService:
        """The worker's service: per-project chains from `tts`, keys from `secrets`, usage recorded in
        the deployment's database (`database_url`)."""
        usage = usage if usage is not None else TTSUsageStore.from_settings(settings)
        chains = ProjectChains(settings.tts, settings.secrets, settings.project_language)
        return cls(store, chains, settings.tts, transcriber, usage, settings.project_language)

    def engines_for(self, project_id: str) -> list[TTSEngine]:
        return self.engines(project_id) if callable(self.engines) else self.engines

    def cache_key(self, req: VoiceRequest) -> str:
        payload = {
            "request": req.model_dump(mode="json"),
            "engines": [e.name for e in self.engines_for(req.project_id)],
            # Engine and gate settings change the take; TTSSettings holds no secrets. Prices and the budget
            # decide what is spent, not what a take sounds like.
            "settings": self.settings.model_dump(
                mode="json", exclude={"project_chains", "prices_per_1k_chars", "daily_budget_usd"}
            ),
            "wer": self.transcriber is not None,
        }
        language = self.languages(req.project_id)
        if language != "en":  # English keys stay as they were, so stored English takes are still found
            payload["language"] = language
        return self.results.key(payload)

    def speak(self, req: VoiceRequest) -> VoiceResult:
        started = time.perf_counter()
        if not req.text.strip():
            raise ValueError("voiceover text is empty")
        key = self.cache_key(req)
        cached = self.results.get(key)
        if cached is not None:
            return cached.model_copy(
                update={"seconds": round(time.perf_counter() - started, 3), "notes": ["reused from store"]}
            )
        attempts: list[EngineAttempt] = []
        best: tuple[TTSEngine, ArtifactRef, QAReport] | None = None
        for engine in self.engines_for(req.project_id):
            take = self._try(engine, req, attempts)
            if take is None:
                continue
            audio_ref, qa = take
            if qa.passed:
                return self._finish(key, engine.name, audio_ref, qa, attempts, started, self._notes(engine, req, qa))
            if best is None or _better(qa, best[2]):
                best = (engine, audio_ref, qa)
        if best is not None:
            # Every engine spoke but none passed: keep the best take with its failed QA_TTS, so the run
            # goes on to a human's review (the approval policy sees the failed gate) instead of dying.
            chosen, audio_ref, qa = best
            note = f"no engine passed QA_TTS; kept the best take ({chosen.name}) for review"
            notes = [note, *self._notes(chosen, req, qa)]
            return self._finish(key, chosen.name, audio_ref, qa, attempts, started, notes)
        raise VoiceChainError(attempts)

    def _notes(self, engine: TTSEngine, req: VoiceRequest, qa: QAReport) -> list[str]:
        """For a language other than English: which voice spoke (a floor tier says so) and what QA skipped."""
        language = self.languages(req.project_id)
        if primary_language(language) == "en":
            return []
        return [f"voice: {getattr(engine, 'label', engine.name)} [{language}]", *qa.notes]

    def _finish(
        self,
        key: str,
        tier: str,
        audio: ArtifactRef,
        qa: QAReport,
        attempts: list[EngineAttempt],
        started: float,
        notes: list[str],
    ) -> VoiceResult:
        voice = VoiceResult(
            tier=tier,
            seconds=round(time.perf_counter() - started, 3),
            notes=notes,
            audio=audio,
            duration_s=round(wav_duration(audio.path), 3),
            attempts=attempts,
            qa=qa,
        )
        self.results.put(key, voice)
        return voice

    # ------------------------------------------------------------ one engine

    def _try(
        self, engine: TTSEngine, req: VoiceRequest, attempts: list[EngineAttempt]
    ) -> tuple[ArtifactRef, QAReport] | None:
        """Synthesize and gate with one engine, recording the outcome.

        Returns the stored take and its QA report when it passed, or when it failed QA but has speech in
        it (a candidate for review); None when the engine was skipped, raised, or produced no speech.
        """
        reason, hold = engine.unavailable_reason(), None
        if reason is None:
            reason, hold = hold_budget(self.settings, self.usage, engine.name, req.project_id, len(req.text))
        if reason is not None:
            self._record(attempts, engine.name, "skipped", reason)
            return None
        try:
            return self._take(engine, req, attempts)
        finally:
            if hold is not None:
                self._release(engine, hold)

    def _release(self, engine: TTSEngine, hold: int) -> None:
        """End a take's budget hold (its cost is recorded by now); a failure never fails the step, the hold
        then expires on its own."""
        usage = self.usage
        if usage is None or not hasattr(usage, "release"):  # a recorder without holds held nothing (hold_budget)
            return
        try:
            usage.release(hold)
        except Exception as exc:
            log.warning("tts budget hold not released", engine=engine.name, error=f"{type(exc).__name__}: {exc}"[:300])

    def _take(
        self, engine: TTSEngine, req: VoiceRequest, attempts: list[EngineAttempt]
    ) -> tuple[ArtifactRef, QAReport] | None:
        text = req.text
        with self.store.staging(".wav") as wav:
            started = time.perf_counter()
            try:
                engine.synthesize(text, wav)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                self._record(attempts, engine.name, "failed", error)
                self._log_usage(req, engine, "failed", time.perf_counter() - started, None, error)
                return None
            wall_s = time.perf_counter() - started
            try:
                qa = self._qa(wav, text, self.languages(req.project_id))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                self._record(attempts, engine.name, "failed", error)
                self._log_usage(req, engine, "failed", wall_s, wav, error, spoke=True)
                return None
            if not qa.passed:
                self._record(attempts, engine.name, "qa_failed", "; ".join(qa.reasons))
                self._log_usage(req, engine, "qa_failed", wall_s, wav, "; ".join(qa.reasons))
                has_speech = qa.metrics.get("trimmed_s", 0.0) > 0
                return (self.store.put(wav, kind="voice"), qa) if has_speech else None
            self._record(attempts, engine.name, "used", "")
            self._log_usage(req, engine, "ok", wall_s, wav, "")
            return self.store.put(wav, kind="voice"), qa

    # ------------------------------------------------------------ usage and budget

    def _log_usage(
        self,
        req: VoiceRequest,
        engine: TTSEngine,
        outcome: TTSOutcome,
        wall_s: float,
        wav: Path | None,
        error: str,
        spoke: bool | None = None,
    ) -> None:
        """One tts_calls row per synthesis. A take that was produced costs its characters whether or not
        it passed QA_TTS (the provider bills it); a failed request costs nothing. Never fails the step."""
        if self.usage is None:
            return
        try:
            produced = outcome != "failed" if spoke is None else spoke
            audio_s = _duration_or_zero(wav) if wav is not None else 0.0
            characters = len(req.text)
            cost = cost_usd(self.settings, engine.name, characters) if produced else 0.0
            metrics.provider_call("tts", engine.name, outcome, cost)
            self.usage.record(TTSCallRecord(
                project_id=req.project_id, run_id=req.run_id, engine=engine.name, model=engine_model(engine),
                characters=characters, audio_s=audio_s, wall_s=round(wall_s, 3), outcome=outcome,
                error=error[:500], cost_usd=cost,
            ))
        except Exception as exc:
            log.warning("tts usage not recorded", engine=engine.name, run_id=req.run_id,
                        error=f"{type(exc).__name__}: {exc}"[:300])

    @staticmethod
    def _record(attempts: list[EngineAttempt], engine: str, outcome: str, reason: str) -> None:
        attempt = EngineAttempt(engine=engine, outcome=outcome, reason=reason[:500])  # type: ignore[arg-type]  # str engine and outcome; pydantic checks the Literals
        attempts.append(attempt)
        log.info("tts engine", engine=engine, outcome=outcome, reason=attempt.reason)

    def _qa(self, wav: Path, text: str, language: str = "en") -> QAReport:
        """Signal checks first; Whisper (the costly part) is skipped only for a take with no speech at all,
        so a take saying other words is always reported with its word error rate, not just a rate error.
        With no recogniser for the language the signal checks decide alone, and the report says so."""
        hears = self.transcriber is None or recognises(self.transcriber, language)
        qa = self._check(wav, text, None, language, hears)
        if self.transcriber is None or not hears or qa.metrics.get("trimmed_s", 0.0) <= 0:
            return qa
        words = self.transcriber.words(wav) if language == "en" else self.transcriber.words(wav, language)
        return self._check(wav, text, " ".join(w.text for w in words), language, hears)

    def _check(self, wav: Path, text: str, transcript: str | None, language: str = "en",
               recogniser: bool = True) -> QAReport:
        return check_voice(
            wav,
            text,
            transcript=transcript,
            max_wer=self.settings.max_wer,
            min_wpm=self.settings.min_wpm,
            max_wpm=self.settings.max_wpm,
            max_silence_s=self.settings.max_silence_s,
            language=language,
            recogniser=recogniser,
        )

