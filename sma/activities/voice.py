"""Steps 4 and 5: voiceover and captions (queue sma-gpu; they run on the CPU when there is no GPU)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.activities.heartbeat import keepalive
from sma.models.pipeline import CaptionRequest, CaptionResult, VoiceRequest, VoiceResult

if TYPE_CHECKING:
    from sma.services.captions.service import CaptionService
    from sma.services.voice.service import VoiceService


class VoiceActivities:
    def __init__(self, voice: VoiceService, captions: CaptionService) -> None:
        self.voice = voice
        self.captioner = captions

    @activity.defn(name="voiceover")
    def voiceover(self, req: VoiceRequest) -> VoiceResult:
        # A VoiceChainError stays retryable: neural voices differ from take to take and a provider may
        # come back, so a retry can pass QA. Empty text will never get better: fail at once.
        if not req.text.strip():
            raise ApplicationError("voiceover text is empty", type="EmptyText", non_retryable=True)
        with keepalive(detail="voiceover"):
            return self.voice.speak(req)

    @activity.defn(name="captions")
    def captions(self, req: CaptionRequest) -> CaptionResult:
        with keepalive(detail="captions"):
            return self.captioner.captions(req)
